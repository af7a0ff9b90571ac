"""benchmarks/finetune_seeds.py: the demo fine-tuning over seeds, per checkpoint (arguments, reuse, summary)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import finetune_seeds  # noqa: E402


def _metrics(test: float, kmer: float, val: float = 0.8) -> dict:
    rows = [("finetuned", "val", val), ("finetuned", "test", test), ("kmer-baseline", "val", 0.7),
            ("kmer-baseline", "test", kmer)]  # fmt: skip
    return {"results": [{"model": m, "split": s, "metrics": {"auroc": a}} for m, s, a in rows], "best_epoch": 1,
            "train_seconds": 2.0, "data_summary": {"test": {"n": 374}}}  # fmt: skip


def test_finished_runs_are_read_back_and_summarised(tmp_path, capsys, monkeypatch):
    for seed, auroc in [(0, 0.88), (1, 0.90), (2, 0.92)]:
        run = tmp_path / "w" / "new" / f"seed{seed}"
        run.mkdir(parents=True)
        (run / "metrics.json").write_text(json.dumps(_metrics(auroc, 0.89)))
    monkeypatch.setattr(finetune_seeds, "run_cli", lambda *a: pytest.fail("a finished run was rerun"))
    out = tmp_path / "s.json"
    argv = ["new=default", "--seeds", "0", "1", "2", "--work", str(tmp_path / "w"), "--out", str(out)]
    assert finetune_seeds.main(argv) == 0
    s = json.loads(out.read_text())["summary"]["new"]
    assert s["mean_test_auroc"] == pytest.approx(0.90) and s["sd_test_auroc"] == pytest.approx(0.02)
    assert (s["min_test_auroc"], s["max_test_auroc"], s["kmer_test_auroc"]) == (0.88, 0.92, 0.89)
    assert "new: test AUROC 0.900 ± 0.020" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, problem",
    [
        (["new"], "checkpoints takes LABEL=CHECKPOINT items, not: new"),
        (["a=default", "a=default"], "each label once, given twice: a"),
        (["a=/no/such/ckpt"], "no such checkpoint folder"),
        (["a=default", "--seeds", "1", "1"], "--seeds"),
        (["a=default", "--seeds", "-1"], "--seeds"),
        (["a=default", "--threads", "0"], "--threads"),
        (["a=default", "--out", "x.tsv"], ".json"),
    ],
)
def test_bad_arguments_are_refused_in_one_line(argv, problem, capsys):
    with pytest.raises(SystemExit) as e:
        finetune_seeds.parse_args(argv)
    assert problem in f"{e.value.code}{capsys.readouterr().err}"
