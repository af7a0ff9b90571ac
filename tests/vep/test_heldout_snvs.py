"""benchmarks/heldout_snvs.py: coding SNVs labelled on a genome, scored by a model and the k-mer LLR, and the
local-context-corrected score's AUROC with its paired difference from the model LLR."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import heldout_snvs  # noqa: E402


def _scores(n: int = 400, seed: int = 0):
    """Half stop_gained, half synonymous; the model LLR = -signal + the k-mer LLR (a context effect unrelated to
    the class), so subtracting the k-mer LLR recovers the signal."""
    rng = np.random.default_rng(seed)
    csq = np.array(["stop_gained", "synonymous"] * (n // 2))
    kmer = rng.normal(0, 2, n)
    model = -0.5 * (csq == "stop_gained") + rng.normal(0, 0.5, n) + kmer
    keys = np.array([f"c:{i}:A:C" for i in range(n)])
    return {"key": keys, "csq": csq, "score": model}, {"key": keys, "csq": csq, "score": kmer}


def test_subtracting_an_unrelated_context_effect_raises_the_auroc():
    model, kmer = _scores()
    res = heldout_snvs.aurocs(model, kmer, [0.5, 1.0], n_boot=200)["stop_gained_vs_synonymous"]
    assert res["n_pos"] == res["n_neg"] == 200
    full = res["corrected"]["1"]
    assert full["auroc"] > res["corrected"]["0.5"]["auroc"] > res["model"]
    assert full["minus_model"] == pytest.approx(full["auroc"] - res["model"], abs=2e-4)
    lo, hi = full["minus_model_ci"]
    assert 0 < lo <= full["minus_model"] <= hi
    # no missense rows: the contrast is reported empty, not invented
    no_ci = heldout_snvs.aurocs(model, kmer, [1.0], n_boot=0)
    assert no_ci["missense_vs_synonymous"]["n_pos"] == 0
    # without a bootstrap the difference is still reported (no CI), and the table prints it
    assert no_ci["stop_gained_vs_synonymous"]["corrected"]["1"]["minus_model"] == full["minus_model"]
    one = {"alphas": [1.0], "genomes": {"g": {"contrasts": {"stop_gained_vs_synonymous": res}}}}
    one["genomes"]["g"]["contrasts"]["stop_gained_vs_synonymous"]["corrected"]["1"]["minus_model_ci"] = None
    assert f"{full['minus_model']:+.3f})" in heldout_snvs.table(one)


def test_compare_puts_runs_on_the_same_snvs_side_by_side(tmp_path, monkeypatch, capsys):
    model, kmer = _scores()
    run = {"checkpoint": "a", "per_class": 300, "seed": 0,
           "genomes": {"dsim_chr4": {"contrasts": heldout_snvs.aurocs(model, kmer, [1.0], n_boot=0)}}}  # fmt: skip
    other = {**run, "checkpoint": "b"}
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(run))
    b.write_text(json.dumps(other))
    out = tmp_path / "cmp.json"
    assert heldout_snvs.main(["--compare", f"base={a}", f"deep={b}", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    row = data["auroc"]["dsim_chr4/stop_gained_vs_synonymous"]
    assert data["checkpoints"] == {"base": "a", "deep": "b"} and row["base"] == row["deep"] > 0.5
    assert "| dsim_chr4 (fly) stop_gained |" in heldout_snvs.compare_table(data)
    out.unlink()
    monkeypatch.setattr(heldout_snvs, "write_json", lambda *a: pytest.fail("--compare without --out wrote a file"))
    assert heldout_snvs.main(["--compare", f"base={a}", f"deep={b}"]) == 0  # printed only
    assert "| dsim_chr4 (fly) stop_gained |" in capsys.readouterr().out and not out.exists()
    b.write_text(json.dumps({**other, "seed": 1}))
    with pytest.raises(SystemExit, match="different SNVs"):
        heldout_snvs.main(["--compare", f"base={a}", f"deep={b}", "--out", str(out)])
    b.write_text(json.dumps(data))  # a --compare table is not one run's JSON: one line, not a KeyError
    with pytest.raises(SystemExit, match="deep: not the JSON of one heldout_snvs.py run"):
        heldout_snvs.main(["--compare", f"base={a}", f"deep={b}"])
    with pytest.raises(SystemExit, match="--compare: each label once, given twice: base"):
        heldout_snvs.main(["--compare", f"base={a}", f"base={b}"])  # the second had silently replaced the first


def test_tables_of_different_snvs_are_refused():
    model, kmer = _scores()
    kmer = {**kmer, "key": kmer["key"][::-1]}
    with pytest.raises(SystemExit, match="different SNVs"):
        heldout_snvs.aurocs(model, kmer, [1.0], n_boot=0)


@pytest.mark.parametrize("argv", [["--per-class", "5"], ["--alphas", "0"], ["--context", "8"]])
def test_out_of_range_arguments_are_refused(argv, capsys):
    with pytest.raises(SystemExit):
        heldout_snvs.parse_args(argv)
    err = capsys.readouterr().err
    assert "expected" in err or "must be" in err


@pytest.mark.slow
def test_end_to_end_on_the_bundled_yeast_with_the_default_model(tmp_path):
    out = tmp_path / "h.json"
    argv = ["--genomes", "yeast_chrI", "--per-class", "12", "--bootstrap", "30", "--work", str(tmp_path / "w"),
            "--out", str(out)]  # fmt: skip
    assert heldout_snvs.main(argv) == 0
    data = json.loads(out.read_text())
    row = data["genomes"]["yeast_chrI"]["contrasts"]["stop_gained_vs_synonymous"]
    assert row["n_pos"] == row["n_neg"] == 12 and 0 <= row["model"] <= 1 and 0 <= row["kmer"] <= 1
    assert set(row["corrected"]) == {"0.5", "1"}
    assert any("make-task coding-snvs" in c for c in data["commands"])
