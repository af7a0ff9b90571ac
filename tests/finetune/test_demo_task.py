"""The bundled demo task (GUE EMP/H3) and what the demo summary says about a fine-tuned model: which model it
started from, and its AUROC against the k-mer baseline with paired bootstrap CIs."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from genomamba.finetune.evaluate import start_model
from genomamba.metrics.ranking import paired_auroc_ci
from genomamba.metrics.summary import headline, notes

ROOT = Path(__file__).resolve().parents[2]
TASK = ROOT / "genomamba" / "resources" / "tasks" / "gue_emp_h3"


def test_bundled_task_matches_its_provenance():
    text = (TASK / "PROVENANCE.md").read_text()
    assert "Apache-2.0" in text
    csv_md5, gz_md5 = re.findall(r"`([0-9a-f]{32})`", text)[:2]
    raw = gzip.decompress((TASK / "dev.csv.gz").read_bytes())
    assert hashlib.md5(raw).hexdigest() == csv_md5
    assert hashlib.md5((TASK / "dev.csv.gz").read_bytes()).hexdigest() == gz_md5
    assert (TASK / "dev.csv.gz").stat().st_size < 300_000  # the package stays small


def test_demo_config_gives_hundreds_of_test_rows(monkeypatch):
    from genomamba.finetune.config import load_finetune_config
    from genomamba.finetune.datasets import load_labeled

    monkeypatch.chdir(ROOT)  # the config names the task folder relative to the checkout
    data = load_labeled(load_finetune_config(ROOT / "configs" / "finetune" / "demo_emp.yaml").data)
    sizes = {name: len(part) for name, part in data.splits.items()}
    assert sum(sizes.values()) == 1497 and sizes["test"] >= 300
    assert set(data.splits["test"].labels.tolist()) == {0, 1}
    train_ids, test_ids = set(data.splits["train"].ids), set(data.splits["test"].ids)
    assert not train_ids & test_ids


def test_paired_auroc_ci():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(150, int), np.zeros(150, int)]
    good = y + rng.normal(0, 0.5, y.size)
    noise = rng.normal(0, 1, y.size)
    same = paired_auroc_ci(y, good, good, n_boot=200, seed=0)
    assert same["difference"] == 0 and same["difference_ci"] == [0, 0]
    r = paired_auroc_ci(y, good, noise, n_boot=200, seed=0)
    assert r["auroc_a"] > 0.8 and abs(r["auroc_b"] - 0.5) < 0.1
    lo, hi = r["difference_ci"]
    assert 0 < lo < r["difference"] < hi and r["ci_a"][0] < r["auroc_a"] < r["ci_a"][1]


def _checkpoint(tmp_path: Path, pretrained: str | None, from_scratch: bool = False) -> Path:
    ckpt = tmp_path / "ft"
    ckpt.mkdir()
    cfg = {"pretrained": pretrained, "from_scratch": from_scratch, "model_config": "tiny"}
    (ckpt / "config.json").write_text(json.dumps({"extra": {"finetune": {"config": cfg}}}))
    return ckpt


@pytest.mark.parametrize(
    "pretrained,from_scratch,expected",
    [
        (None, False, "scratch (tiny)"),
        ("runs/pre/best", False, "pretrained runs/pre/best"),
        ("runs/pre/best", True, "scratch, same architecture as runs/pre/best"),
        ("default", False, "pretrained the bundled default model (made 2026-01-02T03:04:05Z)"),
    ],
)
def test_start_model_names_the_checkpoint(tmp_path, monkeypatch, pretrained, from_scratch, expected):
    models = tmp_path / "models" / "default"
    models.mkdir(parents=True)
    (models / "config.json").write_text("{}")
    (models / "model_card.json").write_text(json.dumps({"created": "2026-01-02T03:04:05Z"}))
    monkeypatch.setenv("GENOMAMBA_MODELS_DIR", str(models.parent))
    assert start_model(str(_checkpoint(tmp_path, pretrained, from_scratch))) == expected


def test_summary_prints_model_vs_kmer_with_cis():
    record = {
        "start_model": "pretrained the bundled default model",
        "results": [{"model": "finetuned", "split": "test", "metrics": {"auroc": 0.82}}],
        "model_vs_kmer": [
            {"split": "test", "n": 374, "model_auroc": 0.82, "model_ci": [0.78, 0.86], "kmer_auroc": 0.89,
             "kmer_ci": [0.86, 0.92], "difference": -0.07, "difference_ci": [-0.1, -0.04], "bootstrap": 1000}
        ],
    }  # fmt: skip
    lines = notes(record)
    assert lines[0] == "model: pretrained the bundled default model"
    assert lines[1].startswith("test AUROC: model 0.820 [0.780, 0.860] vs k-mer 0.890 [0.860, 0.920]")
    assert "model - k-mer -0.070 [-0.100, -0.040] (n=374" in lines[1]
    assert headline(record)["model - k-mer test auroc"] == pytest.approx(-0.07)
