"""The inference rules: on in the demo config, absent when disabled, planned (tracks + figure, embeddings) when
enabled, config checked by the schema, GPUs requested only when the inference device may use one, and a real tiny run
(slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workflow.test_snakemake import TINY, smk


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "extra.yaml"
    path.write_text(text)
    return path


def test_on_in_the_demo_and_off_when_disabled(tmp_path):
    r = smk("-n", "--cores", "1", cwd=tmp_path)  # configs/config.yaml: the demo draws the tracks
    assert r.returncode == 0, r.stderr[-3000:]
    assert "inference_tracks" in r.stdout + r.stderr
    off = _config(tmp_path, "inference: {enabled: false}\n")
    r = smk("-n", "--cores", "1", "--configfile", str(off), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "inference_" not in r.stdout + r.stderr


def test_enabled_plans_tracks_and_embeddings(tmp_path):
    extra = _config(tmp_path, "inference: {enabled: true, genes: [YAL067C], device: cpu}\nresources: {gpu: 1}\n")
    r = smk("-n", "--cores", "1", "--configfile", str(extra), "-p", cwd=tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert "inference_tracks" in out and "inference_embed" in out
    assert "--genes YAL067C --figure --device cpu" in out
    assert "embed --windows results/windows/yeast_chrI --split test" in out
    block = out[out.index("rule inference_tracks:") :].split("\n\n")[0]
    assert "gpu=0" in block.replace(" ", "")  # device cpu: no GPU requested even though resources.gpu is 1


def test_schema_rejects_a_bad_device(tmp_path):
    extra = _config(tmp_path, "inference: {enabled: true, device: gpu}\n")
    r = smk("-n", "--cores", "1", "--configfile", str(extra), cwd=tmp_path)
    assert r.returncode != 0 and "device" in r.stdout + r.stderr


@pytest.mark.slow
def test_tiny_inference_run(tmp_path):
    extra = _config(tmp_path, "inference: {enabled: true, genes: 1, device: cpu}\n")
    targets = [f"results/inference/yeast_chrI/{f}" for f in ("tracks/browser.png", "embeddings.test.parquet")]
    r = smk("--cores", "2", *targets, "--configfile", str(TINY), str(extra), cwd=tmp_path)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    import polars as pl
    import pyBigWig

    tracks = tmp_path / "results/inference/yeast_chrI/tracks"
    assert (tracks / "browser.png").read_bytes()[:4] == b"\x89PNG"
    bw = pyBigWig.open(str(tracks / "log_p_ref.bw"))
    assert bw.chroms() == {"NC_001133.9": 230_218}
    bw.close()
    assert pl.read_parquet(tmp_path / "results/inference/yeast_chrI/embeddings.test.parquet").height > 0
