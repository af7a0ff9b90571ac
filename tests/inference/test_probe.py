"""``genomamba probe``: a frozen-embedding probe separates an easy task, reports like ``evaluate`` (probe and k-mer
baseline on the same test rows), and refuses bad input in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genomamba.errors import GenomambaError
from genomamba.infer.config import ProbeConfig
from genomamba.infer.probe import fit_probe
from tests.inference.conftest import cli_error, run_cli


def _biased(n: int, gc: float, rng) -> str:
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return "".join(rng.choice(list("ACGT"), n, p=p))


@pytest.fixture
def labelled(tmp_path):
    """GC-rich (label 1) vs AT-rich (label 0) sequences: separable by composition, so any embedding that sees the
    bases carries the label."""
    rng = np.random.default_rng(0)
    rows = ["sequence,label,split"]
    for split, n in (("train", 40), ("val", 10), ("test", 24)):
        for i in range(n):
            label = i % 2
            rows.append(f"{_biased(60, 0.62 if label else 0.38, rng)},{label},{split}")
    path = tmp_path / "task.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_probe_report(checkpoints, labelled, tmp_path):
    out = tmp_path / "probe"
    r = run_cli(
        "probe",
        "--checkpoint",
        str(checkpoints["head"]),
        "--data",
        str(labelled),
        "--out-dir",
        str(out),
        "--folds",
        "3",
        "--device",
        "cpu",
    )
    record = json.loads((out / "metrics.json").read_text())
    models = {(res["model"], res["split"]): res["metrics"] for res in record["results"]}
    assert set(models) == {("probe", "test"), ("kmer-baseline", "test")}
    probe = models[("probe", "test")]
    assert probe["n"] == 24 and probe["auroc"] > 0.9 and -1 <= probe["mcc"] <= 1
    assert record["probe"]["fit_rows"] == 50 and record["probe"]["width"] == 32 and record["probe"]["folds"] == 3
    assert record["probe"]["strength"] in ProbeConfig().strengths
    tsv = (out / "metrics.tsv").read_text().splitlines()
    assert tsv[0].startswith("dataset\tmodel\tsplit\tmetric\tvalue") and any("\tprobe\ttest\tauroc\t" in x for x in tsv)
    assert "probe test: " in r.stdout


def test_fit_probe_regression_and_too_few_rows():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 5))
    y = x @ np.array([1.0, -2.0, 0.0, 0.5, 0.0]) + 0.1 * rng.normal(size=60)
    est, strength, cv = fit_probe("regression", x, y, ProbeConfig(folds=3))
    assert cv > 0.9 and np.corrcoef(est.predict(x), y)[0, 1] > 0.95
    with pytest.raises(GenomambaError, match="need >= 2 per class"):
        fit_probe("binary", x[:5], np.array([0, 0, 0, 0, 1]), ProbeConfig())


@pytest.mark.parametrize("strengths", [[float("nan")], [1.0, float("inf")], [], [0.0]])
def test_probe_strengths_are_finite_and_positive(strengths):
    with pytest.raises(ValueError, match="strengths must be a non-empty list of finite numbers > 0"):
        ProbeConfig(strengths=strengths)


def test_probe_bad_input(checkpoints, labelled, tmp_path):
    base = ("probe", "--checkpoint", str(checkpoints["head"]), "--out-dir", str(tmp_path / "o"))
    assert "folds must be >= 2" in cli_error(*base, "--data", str(labelled), "--folds", "1")
    no_test = tmp_path / "no_test.csv"
    no_test.write_text("\n".join(x for x in labelled.read_text().splitlines() if not x.endswith(",test")) + "\n")
    assert "split 'test' is empty" in cli_error(*base, "--data", str(no_test))
    assert "unknown key(s) data.pth" in cli_error(*base, "--data", str(labelled), "data.pth=x")
    bad = cli_error(*base, "--data", str(labelled), "strengths=[1.0, .nan]")
    assert "strengths[1]: expected a finite number, got nan" in bad
    assert not (tmp_path / "o").exists()
