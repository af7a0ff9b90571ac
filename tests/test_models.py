"""Bundled models: ``default`` / ``bundled:NAME`` resolve wherever a checkpoint is read, ``genomamba models`` lists
them with their cards, and with none bundled every entry point says so in one line."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from genomamba.bundled import MAX_BUNDLED_MB, MODELS_ENV, bundled_models, models_dir, resolve_checkpoint
from genomamba.cli import main
from genomamba.errors import GenomambaError
from genomamba.model import GenomambaModel, ModelConfig, load_pretrained

ROOT = Path(__file__).resolve().parents[1]
NO_MODEL = "no bundled default model yet: train it with `make model`"
PACKAGED = ROOT / "genomamba" / "resources" / "models" / "default"


def _cli(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "genomamba", *args], env=full_env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def _tiny_model(seed: int = 0) -> GenomambaModel:
    torch.manual_seed(seed)
    return GenomambaModel(ModelConfig(d_model=8, n_layer=1, d_state=4, fusion="head", backend="ref"))


@pytest.fixture
def no_models(tmp_path, monkeypatch) -> Path:
    empty = tmp_path / "models"
    empty.mkdir()
    monkeypatch.setenv(MODELS_ENV, str(empty))
    return empty


@pytest.fixture
def bundled(tmp_path, monkeypatch) -> tuple[Path, GenomambaModel]:
    """A tiny random model bundled as ``default`` (with a card) in a temporary models folder."""
    root = tmp_path / "models"
    model = _tiny_model()
    model.save_pretrained(root / "default")
    card = {
        "model": {"d_model": 8, "n_layer": 1, "fusion": "head", "mixer": "M"},
        "parameters": model.num_parameters(),
        "training": {"tokens_seen": 1234, "steps": 5, "wall_seconds": 60.0, "machine": "test box"},
        "genomes": {"fly": {}, "dsim": {}},
        "bits_per_base": {"fly": {"model": 1.9, "best_kmer": 1.95}},
        "vep_auroc": {"fly": {"contrasts": {"stop_gained_vs_synonymous": {"model": 0.61, "kmer": 0.55}}}},
        "command": "make model",
    }
    (root / "default" / "model_card.json").write_text(json.dumps(card))
    (root / "default" / "MODEL_CARD.md").write_text("# genomamba default model\n\nA test card.\n")
    monkeypatch.setenv(MODELS_ENV, str(root))
    return root, model


# ------------------------------------------------------------------------------------------ none bundled
def test_absent_default_is_a_one_line_error_everywhere(no_models, tmp_path, capsys):
    assert bundled_models() == []
    for load in (GenomambaModel.from_pretrained, load_pretrained, resolve_checkpoint):
        with pytest.raises(GenomambaError) as exc:
            load("default")
        assert str(exc.value) == NO_MODEL
    with pytest.raises(GenomambaError, match=r"no bundled model 'other' \(bundled: none\)"):
        resolve_checkpoint("bundled:other")
    vcf = _yeast_vcf(tmp_path / "v.vcf")
    r = _cli("-q", "score-vcf", "--vcf", str(vcf), "--fasta", "yeast_chrI", "--checkpoint", "default",
             "--out", str(tmp_path / "o.tsv"), env={MODELS_ENV: str(no_models)})  # fmt: skip
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [f"genomamba score-vcf: {NO_MODEL}"]
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "no bundled model" in out and "make model" in out
    assert main(["models", "default"]) == 2
    assert capsys.readouterr().err.strip() == f"genomamba models: {NO_MODEL}"


def test_finetune_from_absent_default_is_one_line(no_models, tmp_path):
    d = tmp_path / "task"
    d.mkdir()
    rows = "".join(f"{'ACGT' * 8 if i % 2 else 'TTGA' * 8},{i % 2}\n" for i in range(24))
    for split in ("train", "dev", "test"):
        (d / f"{split}.csv").write_text("sequence,label\n" + rows)
    r = _cli("-q", "finetune", "--data", str(d), "--pretrained", "default", "--out", str(tmp_path / "ft"),
             env={MODELS_ENV: str(no_models)})  # fmt: skip
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == f"genomamba finetune: {NO_MODEL}"
    assert not (tmp_path / "ft").exists()


# ------------------------------------------------------------------------------------------ one bundled
def test_default_resolves_to_the_bundled_model(bundled):
    root, model = bundled
    assert resolve_checkpoint("default") == root / "default" == resolve_checkpoint("bundled:default")
    for loaded in (GenomambaModel.from_pretrained("default"), load_pretrained("bundled:default")):
        assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    with pytest.raises(GenomambaError, match=r"no bundled model 'big' \(bundled: default\)"):
        resolve_checkpoint("bundled:big")


def test_an_existing_path_named_default_wins(bundled, tmp_path, monkeypatch):
    other = _tiny_model(seed=7)
    other.save_pretrained(tmp_path / "work" / "default")
    monkeypatch.chdir(tmp_path / "work")
    assert resolve_checkpoint("default") == Path("default")
    loaded = GenomambaModel.from_pretrained("default")
    assert torch.equal(
        loaded.state_dict()["backbone.embedding.weight"], other.state_dict()["backbone.embedding.weight"]
    )


def test_models_cli_lists_the_card(bundled, capsys):
    root, model = bundled
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("default") and str(root / "default") in out
    assert f"{model.num_parameters():,} parameters" in out and "1,234 tokens" in out and "test box" in out
    assert "test bits/base fly: 1.900 (best k-mer 1.950)" in out
    assert "stop_gained_vs_synonymous 0.610 (k-mer 0.550)" in out
    assert main(["models", "default"]) == 0
    assert capsys.readouterr().out.strip() == str(root / "default")
    assert main(["models", "default", "--card"]) == 0
    assert capsys.readouterr().out.startswith("# genomamba default model")
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["default"] and rows[0]["card"]["command"] == "make model"


def _yeast_vcf(path: Path, positions=(2000, 2100)) -> Path:
    """SNVs on the bundled yeast chr I with the reference's own REF bases."""
    header = "##fileformat=VCFv4.2\n##contig=<ID=NC_001133.9>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    fasta = ROOT / "genomamba" / "resources" / "genomes" / "yeast_chrI" / "ScerR64_I.fna.gz"
    with gzip.open(fasta, "rt") as fh:
        seq = "".join(line.strip() for line in fh if not line.startswith(">")).upper()
    rows = [f"NC_001133.9\t{p}\t.\t{seq[p - 1]}\t{'A' if seq[p - 1] != 'A' else 'C'}\t.\t.\t.\n" for p in positions]
    path.write_text(header + "".join(rows))
    return path


def test_score_vcf_with_the_bundled_default(bundled, tmp_path):
    root, _ = bundled
    vcf = _yeast_vcf(tmp_path / "v.vcf")
    out = tmp_path / "scores.tsv"
    args = ["--vcf", str(vcf), "--fasta", "yeast_chrI", "--checkpoint", "default", "--context", "64", "--out", str(out)]
    r = _cli("-q", "score-vcf", *args, "--no-progress", env={MODELS_ENV: str(root)})
    assert r.returncode == 0, r.stderr[-2000:]
    lines = out.read_text().splitlines()
    assert len([ln for ln in lines if ln.startswith("NC_001133.9")]) == 2
    assert str((root / "default").resolve()) in (out.read_text() + r.stderr + _provenance(out))


def _provenance(out: Path) -> str:
    side = [p for p in out.parent.iterdir() if p.name.startswith(out.name) and p != out]
    return "".join(p.read_text() for p in side)


# ------------------------------------------------------------------------------------------ the package
def test_bundled_checkpoint_fits_the_wheel_budget():
    if not (PACKAGED / "model.safetensors").is_file():
        pytest.skip(f"no bundled default model in {PACKAGED} (make model puts it there)")
    size_mb = sum(f.stat().st_size for f in PACKAGED.iterdir() if f.is_file()) / 2**20
    assert size_mb <= MAX_BUNDLED_MB
    assert (PACKAGED / "model_card.json").is_file() and (PACKAGED / "MODEL_CARD.md").is_file()
    GenomambaModel.from_pretrained(PACKAGED)  # loads: a complete, consistent checkpoint


def test_models_dir_defaults_to_the_package(monkeypatch):
    monkeypatch.delenv(MODELS_ENV, raising=False)
    assert models_dir() == PACKAGED.parent


@pytest.mark.slow
def test_default_after_a_plain_wheel_install(tmp_path):
    """The wheel stays under 40 MB; installed from it, ``default`` loads the shipped model, or (none shipped yet)
    gives the one-line error."""
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheel_dir, ROOT]
    subprocess.run(cmd, check=True, capture_output=True)
    (wheel,) = wheel_dir.glob("genomamba-*.whl")
    assert wheel.stat().st_size < 40 * 2**20
    names = zipfile.ZipFile(wheel).namelist()
    shipped = (PACKAGED / "model.safetensors").is_file()
    assert ("genomamba/resources/models/default/model.safetensors" in names) == shipped
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", target, wheel], check=True)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import genomamba.model as m; from genomamba.errors import "
        "GenomambaError\ntry:\n    net = m.GenomambaModel.from_pretrained('default'); print('loaded', m.__file__)\n"
        "except GenomambaError as e:\n    print('error', e)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", MODELS_ENV)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(target)], capture_output=True, text=True, cwd=tmp_path, env=env, check=True
    ).stdout.strip()
    if shipped:
        assert out.startswith("loaded") and str(target.resolve()) in out
    else:
        assert out == f"error {NO_MODEL}"
