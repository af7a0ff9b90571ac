"""Metrics against hand-computed values, undefined cases, JSON/TSV output and plots."""

from __future__ import annotations

import json
import math

import numpy as np

from genomamba.metrics.plots import plot_curves
from genomamba.metrics.supervised import compute_metrics, write_metrics


def test_binary_metrics_by_hand():
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.6, 0.35, 0.8])
    m = compute_metrics("binary", y, s)
    assert math.isclose(m["auroc"], 0.75)  # 3 of 4 (pos, neg) pairs ranked correctly
    assert math.isclose(m["auprc"], (1.0 + 2 / 3) / 2)  # precision at each positive: 1/1, 2/3
    # threshold 0.5: predictions 0 1 0 1 -> tp 1, tn 1, fp 1, fn 1
    assert math.isclose(m["accuracy"], 0.5) and math.isclose(m["f1"], 0.5) and math.isclose(m["mcc"], 0.0)


def test_multiclass_macro():
    y = np.array([0, 1, 2, 2])
    p = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2]])
    m = compute_metrics("multiclass", y, p, 3)
    assert math.isclose(m["accuracy"], 0.75)
    # per-class F1: class0 2/3 (tp1 fp1), class1 1, class2 2/3 (tp1 fn1) -> macro 7/9
    assert math.isclose(m["f1"], 7 / 9)
    assert 0 < m["mcc"] < 1 and m["auroc"] is not None


def test_regression_metrics():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    m = compute_metrics("regression", y, y**3)
    assert math.isclose(m["spearman"], 1.0) and m["pearson"] < 1.0
    assert math.isclose(compute_metrics("regression", y, y)["r2"], 1.0)


def test_undefined_metrics_are_null_not_zero():
    m = compute_metrics("binary", np.array([1, 1, 1]), np.array([0.2, 0.7, 0.9]))
    assert m["auroc"] is None and "only one class" in m["notes"][0]
    r = compute_metrics("regression", np.array([1.0, 2.0]), np.array([3.0, 3.0]))
    assert r["spearman"] is None


def test_write_metrics_and_plots(tmp_path):
    y = np.array([0, 1, 0, 1, 1])
    s = np.array([0.2, 0.9, 0.4, 0.3, 0.8])
    record = {
        "dataset": "d.csv",
        "checkpoint": "ck",
        "config": "c.yaml",
        "results": [{"model": "finetuned", "split": "test", "metrics": compute_metrics("binary", y, s)}],
    }
    write_metrics(tmp_path / "m.json", tmp_path / "m.tsv", record)
    assert json.loads((tmp_path / "m.json").read_text())["results"][0]["metrics"]["n"] == 5
    lines = (tmp_path / "m.tsv").read_text().splitlines()
    assert lines[0] == "dataset\tmodel\tsplit\tmetric\tvalue\tcheckpoint\tconfig"
    auroc = [ln.split("\t") for ln in lines if "\tauroc\t" in ln][0]
    assert auroc[0] == "d.csv" and auroc[5] == "ck" and math.isclose(float(auroc[4]), 5 / 6, rel_tol=1e-5)
    plot_curves(y, s, tmp_path / "roc.png", tmp_path / "pr.png", "t")
    probs = np.stack([1 - s, s * 0.5, s * 0.5], axis=1)
    plot_curves(np.array([0, 1, 0, 2, 1]), probs, tmp_path / "roc3.png", tmp_path / "pr3.png", "t", ["a", "b", "c"])
    for name in ("roc.png", "pr.png", "roc3.png", "pr3.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _write_predictions(path, columns: dict, meta: dict) -> None:
    import polars as pl

    pl.DataFrame(columns).write_csv(path, separator="\t")
    (path.parent / f"{path.name}.json").write_text(json.dumps(meta))


def test_evaluate_cli_multiclass_and_regression(tmp_path):
    from genomamba.cli import main

    meta = {"checkpoint": "ck", "dataset": "toy", "split": "test", "config": "", "classes": ["a", "b", "c"]}
    multi = tmp_path / "m.tsv"
    _write_predictions(
        multi,
        {
            "id": ["1", "2", "3", "4"],
            "split": ["test"] * 4,
            "label": ["a", "b", "c", "c"],
            "prob_a": [0.8, 0.1, 0.1, 0.6],
            "prob_b": [0.1, 0.8, 0.1, 0.2],
            "prob_c": [0.1, 0.1, 0.8, 0.2],
        },
        {**meta, "task": "multiclass"},
    )
    assert main(["evaluate", "--predictions", str(multi), "--out-dir", str(tmp_path / "em")]) == 0
    rec = json.loads((tmp_path / "em" / "metrics.json").read_text())
    assert math.isclose(rec["results"][0]["metrics"]["accuracy"], 0.75) and rec["checkpoint"] == "ck"
    assert (tmp_path / "em" / "roc.png").is_file()

    reg = tmp_path / "r.tsv"
    _write_predictions(
        reg,
        {"id": ["1", "2", "3"], "split": ["test"] * 3, "label": [1.0, 2.0, 3.0], "pred": [1.5, 1.9, 3.3]},
        {**meta, "task": "regression", "classes": []},
    )
    assert main(["evaluate", "--predictions", str(reg), "--out-dir", str(tmp_path / "er")]) == 0
    rec = json.loads((tmp_path / "er" / "metrics.json").read_text())
    assert math.isclose(rec["results"][0]["metrics"]["spearman"], 1.0)
    assert not (tmp_path / "er" / "roc.png").exists()

    bad = tmp_path / "b.tsv"
    _write_predictions(
        bad,
        {"id": ["1"], "split": ["test"], "label": ["zzz"], "prob_a": [1.0], "prob_b": [0.0], "prob_c": [0.0]},
        {**meta, "task": "multiclass"},
    )
    assert main(["evaluate", "--predictions", str(bad), "--out-dir", str(tmp_path / "eb")]) == 2
