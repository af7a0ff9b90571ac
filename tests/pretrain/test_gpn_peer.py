"""benchmarks/peers/gpn_train.py without gpn installed: its crops, masking and strand mapping, and the JSON it
writes when the peer's Python has no gpn (the trained path needs the peer environment; see the README)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks" / "peers"))

import gpn_train  # noqa: E402


def test_crops_are_train_slices_on_either_strand(tmp_path):
    from genomamba.alphabet import reverse_complement

    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 5, 4000).astype(np.uint8)
    soft = (rng.random(4000) < 0.3).astype(np.uint8)
    job = {"seq_len": 64, "batch": 40, "probs": [1.0], "genomes": [{"train": [[100, 500], [2000, 1000]]}]}
    ids, flags = gpn_train.crops(job, rng, [tokens], [soft])
    assert ids.shape == flags.shape == (40, 64) and set(np.unique(ids)) <= {2, 3, 4, 5, 6}
    starts = [s for o, n in job["genomes"][0]["train"] for s in range(o, o + n - 64 + 1)]
    strands = set()
    for row, flag in zip(ids, flags):
        for s in starts:
            fwd = tokens[s : s + 64]
            if np.array_equal(row, gpn_train.TO_GPN[fwd]) and np.array_equal(flag, soft[s : s + 64] > 0):
                strands.add("+")
                break
            rc = reverse_complement(fwd)
            if np.array_equal(row, gpn_train.TO_GPN[rc]) and np.array_equal(flag, soft[s : s + 64][::-1] > 0):
                strands.add("-")
                break
        else:
            raise AssertionError("a crop that is no train slice on either strand")
    assert strands == {"+", "-"}


def test_masking_never_targets_n_and_weights_repeats():
    rng = np.random.default_rng(1)
    ids = rng.integers(2, 7, (64, 256))  # 2 = [UNK] (N)
    soft = rng.random(ids.shape) < 0.5
    inputs, labels, weight = gpn_train.mask_batch(ids, soft, rng, 0.1)
    chosen = labels != -100
    assert not chosen[ids == 2].any() and np.array_equal(labels[chosen], ids[chosen])
    assert abs(chosen.sum() / (ids >= 3).sum() - 0.15) < 0.01
    assert abs((inputs[chosen] == gpn_train.MASK).mean() - 0.8) < 0.03
    assert np.array_equal(inputs[~chosen], ids[~chosen])
    assert set(np.unique(weight)) == {np.float32(0.1), np.float32(1.0)} and np.all(weight[soft] == np.float32(0.1))


def test_gpn_ids_complement_as_nine_minus_id():
    from genomamba.alphabet import reverse_complement

    acgt = np.arange(4, dtype=np.uint8)
    assert np.array_equal(gpn_train.TO_GPN[reverse_complement(acgt)[::-1]], 9 - gpn_train.TO_GPN[acgt])


def test_without_gpn_the_json_says_so_and_nothing_trains(tmp_path, monkeypatch):
    out = tmp_path / "peer.json"
    cwd = []
    real_run = gpn_train.subprocess.run

    def spy(cmd, **kw):
        cwd.append((kw.get("cwd"), "PYTHONPATH" in kw.get("env", {})))
        return real_run(cmd, **kw)

    monkeypatch.setattr(gpn_train.subprocess, "run", spy)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # as benchmarks/recipe.Runner runs it
    assert gpn_train.main(["--peer-python", sys.executable, "--out", str(out), "--work", str(tmp_path / "w")]) == 0
    record = json.loads(out.read_text())
    assert record["status"] == "gpn not installed" and record["peer_packages"] is None
    # probed outside the repository and without PYTHONPATH (its kernels/ folder shadows a package transformers imports)
    assert cwd == [(tempfile.gettempdir(), False)]
    assert not (tmp_path / "w").exists()


def test_rescore_writes_a_score_vcf_like_tsv_keyed_by_snv(tmp_path, monkeypatch):
    """--rescore plumbing (the peer's worker faked): windows centred on each SNV, one llr row per VCF record with the
    columns benchmarks/recipe.read_scores pairs tables by; no gpn -> a one-line error."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from recipe import read_scores

    from genomamba.genome.fasta import Genome
    from genomamba.genome.registry import resolve_genome

    with Genome(resolve_genome("yeast_chrI")[0]) as fasta:
        chrom = next(iter(fasta.contigs))
        seq = fasta.fetch_tokens(chrom, 0, 400)[0]
    vcf = tmp_path / "snvs.vcf"
    rows = [(5, "missense"), (200, "synonymous"), (399, "stop_gained")]  # 1-based; the first window is N-padded
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    for pos, csq in rows:
        ref = "ACGT"[seq[pos - 1]]
        lines.append(f"{chrom}\t{pos}\t.\t{ref}\t{'C' if ref != 'C' else 'G'}\t.\t.\tCSQ={csq};GENE=g")
    vcf.write_text("\n".join(lines) + "\n")
    seen = {}

    def fake_worker(cmd, **kw):
        job = json.loads(Path(cmd[-1]).read_text())
        data = np.load(job["snvs"]["yeast_chrI"])
        seen.update(windows=data["windows"], ref=data["ref"], model_dir=job["model_dir"], env=kw["env"])
        Path(job["result"]).write_text(json.dumps({"llr": {"yeast_chrI": [-1.5, 0.25, 2.0]}}))

    model = tmp_path / "gpn_model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    monkeypatch.setattr(gpn_train, "peer_python", lambda _: ("peer-python", {"gpn": "x"}))
    monkeypatch.setattr(gpn_train.subprocess, "run", fake_worker)
    out = tmp_path / "gpn.tsv"
    argv = ["--rescore", str(model), "--genome", "yeast_chrI", "--vcf", str(vcf), "--out", str(out), "--context", "16"]
    assert gpn_train.main([*argv, "--work", str(tmp_path / "w")]) == 0
    assert seen["model_dir"] == str(model) and seen["windows"].shape == (3, 16)
    assert "PYTHONPATH" not in seen["env"] and seen["env"]["OMP_NUM_THREADS"] == "1"  # the peer's environment
    assert np.array_equal(seen["windows"][:, 8], seen["ref"])  # the SNV's reference base sits at the centre
    assert np.array_equal(seen["windows"][0, :4], [4, 4, 4, 4])  # before the chromosome start: N
    scores = read_scores(out)
    assert list(scores["csq"]) == [c for _, c in rows] and np.allclose(scores["score"], [-1.5, 0.25, 2.0])
    assert scores["key"][1].startswith(f"{chrom}:200:")
    monkeypatch.setattr(gpn_train, "peer_python", lambda _: ("peer-python", None))
    with pytest.raises(SystemExit, match="gpn is not installed"):
        gpn_train.main([*argv, "--work", str(tmp_path / "w2")])
