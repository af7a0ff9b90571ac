"""benchmarks/scaling.py: budgets from --tokens and finished runs (--add-run), train-only mode, the log-linear trend,
and reuse of dev-SNV scores only when they come from the same checkpoint and VCF bytes with the same arguments."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import levers  # noqa: E402
import recipe  # noqa: E402
import scaling  # noqa: E402


def test_a_curve_needs_three_budgets_counting_added_runs(tmp_path, capsys):
    with pytest.raises(SystemExit):
        scaling.parse_args(["--tokens", "1e6", "2e6"])
    assert "at least 3 budgets" in capsys.readouterr().err
    args = scaling.parse_args(["--tokens", "1e6", "2e6", "--add-run", str(tmp_path)])
    assert args.add_run == [tmp_path]
    assert scaling.parse_args(["--train-only", "--tokens", "1e6"]).train_only
    with pytest.raises(SystemExit):
        scaling.parse_args(["--train-only"])


def test_score_run_refuses_an_unfinished_run(tmp_path):
    args = scaling.parse_args(["--tokens", "1e6", "2e6", "3e6"])
    with pytest.raises(SystemExit, match="not a finished pretraining run"):
        scaling.score_run(args, tmp_path, [], recipe.Runner())


def test_an_added_make_model_run_scores_into_its_work_folder_to_reuse_the_cached_snvs(tmp_path, monkeypatch):
    work = tmp_path / "default_model_140"
    (work / "pretrain").mkdir(parents=True)
    summary = {"steps": 4, "tokens_per_step": 8, "fit_seconds": 2.0, "accelerator": "cpu", "test": {}}
    (work / "pretrain" / "summary.json").write_text(json.dumps(summary))
    seen = []
    monkeypatch.setattr(scaling, "evaluate_snvs", lambda ckpt, genomes, folder, *a: seen.append((ckpt, folder)) or {})
    monkeypatch.setattr(scaling, "bits_per_base", lambda summary: {})
    args = scaling.parse_args(["--tokens", "1e6", "2e6", "--add-run", str(work / "pretrain")])
    scaling.score_run(args, work / "pretrain", [], recipe.Runner())
    assert seen[-1] == (work / "pretrain" / "best", work / "pretrain")  # no plan.json: not make model's layout
    (work / "plan.json").write_text("{}")
    row = scaling.score_run(args, work / "pretrain", [], recipe.Runner())
    assert seen[-1] == (work / "pretrain" / "best", work)  # WORK/snvs, where default_model.py cached its scores
    assert row["run"] == str(work / "pretrain") and row["tokens"] == 32


def test_trend_finds_where_a_rising_auroc_meets_its_target():
    def run(tokens, auroc):
        row = {"model": auroc}
        return {"tokens": tokens, "tokens_per_s": 1000.0, "accelerator": "cpu",
                "vep_auroc": {"g": {"contrasts": {c: row for c in scaling.TARGETS}}}}  # fmt: skip

    out = scaling.trend([run(1e6, 0.55), run(1e7, 0.60), run(1e8, 0.65)], None)
    stop = out["g/stop_gained_vs_synonymous"]
    assert stop["slope_per_decade"] == pytest.approx(0.05)
    expected = 10 ** ((stop["target"] - 0.25) / 0.05)  # intercept 0.55 - 6 x 0.05
    assert stop["tokens_to_target"] == pytest.approx(expected, rel=1e-2)
    assert stop["cpu_hours"] == pytest.approx(expected / 1000 / 3600, rel=1e-2)
    flat = scaling.trend([run(1e6, 0.6), run(1e7, 0.6)], None)["g/stop_gained_vs_synonymous"]
    assert flat["tokens_to_target"] is None


def test_trend_hours_use_the_largest_runs_speed():
    def run(tokens, auroc, tps):
        row = {"model": auroc}
        return {"tokens": tokens, "tokens_per_s": tps, "accelerator": "cpu",
                "vep_auroc": {"g": {"contrasts": {c: row for c in scaling.TARGETS}}}}  # fmt: skip

    stop = scaling.trend([run(1e6, 0.55, 500.0), run(1e8, 0.65, 2000.0)], None)["g/stop_gained_vs_synonymous"]
    assert stop["cpu_hours"] == pytest.approx(stop["tokens_to_target"] / 2000 / 3600, rel=1e-2)
    assert stop["gpu_minutes"] is None
    gpu = scaling.trend([run(1e6, 0.55, 500.0), run(1e8, 0.65, 2000.0)], 1e5)["g/stop_gained_vs_synonymous"]
    assert gpu["gpu_minutes"] == pytest.approx(gpu["tokens_to_target"] / 1e5 / 60, rel=1e-2)


def test_keep_runs_carries_an_earlier_curve_and_new_runs_replace_their_rows(tmp_path, capsys):
    old = tmp_path / "scaling.json"
    rows = [{"run": f"r{i}", "tokens": t, "steps": 1} for i, t in enumerate((1e6, 3e6, 1e7))]
    old.write_text(json.dumps({"runs": rows}))
    args = scaling.parse_args(["--keep-runs", str(old)])  # three kept budgets make a curve
    assert [r["kept_from"] for r in args.kept] == [str(old)] * 3
    merged = scaling.merge_runs(args.kept, [{"run": "r2", "tokens": 3e7}, {"run": "new", "tokens": 3e6}])
    # a kept budget scored again (3e6) is replaced; folder r2 now holds a larger, retrained run: both rows stay
    assert [(r["run"], r["tokens"]) for r in merged] == [("r0", 1e6), ("new", 3e6), ("r2", 1e7), ("r2", 3e7)]
    assert "kept_from" not in merged[1] and merged[2]["kept_from"] == str(old)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(SystemExit):
        scaling.parse_args(["--keep-runs", str(tmp_path / "bad.json")])
    assert "not a scaling result JSON" in capsys.readouterr().err


def test_fresher_reuses_only_newer_results(tmp_path):
    inp, out = tmp_path / "in.vcf", tmp_path / "out.tsv"
    inp.write_text("x")
    assert not recipe.fresher(out, [inp])
    out.write_text("y")
    os.utime(inp, (1_000, 1_000))
    assert recipe.fresher(out, [inp, tmp_path / "absent"])
    os.utime(inp, (out.stat().st_mtime + 10,) * 2)
    assert not recipe.fresher(out, [inp])


def test_scores_are_reused_by_content_not_mtime(tmp_path, monkeypatch):
    vcf, out = tmp_path / "dev.vcf", tmp_path / "scores.tsv"
    vcf.write_text("chr1\t5\t.\tA\tG\n")
    calls = []

    def fake_genomamba(self, *args):  # stands in for `python -m genomamba score-vcf ... --out OUT`
        calls.append(args)
        out.write_text(f"scored {len(calls)}\n")

    monkeypatch.setattr(recipe.Runner, "genomamba", fake_genomamba)
    run, step = recipe.Runner(), ("score-vcf", "--vcf", vcf, "--out", out)
    run.genomamba_cached(out, [vcf], *step)
    assert len(calls) == 1 and recipe.inputs_sidecar(out).is_file()
    # the same bytes copied again later (a newer mtime than the result): reused
    os.utime(vcf, (out.stat().st_mtime + 100,) * 2)
    run.genomamba_cached(out, [vcf], *step)
    assert len(calls) == 1 and run.commands[-1].endswith("# reused")
    # other arguments, or changed bytes: scored again
    run.genomamba_cached(out, [vcf], *step, "--context", "512")
    assert len(calls) == 2
    vcf.write_text("chr1\t6\t.\tA\tG\n")
    run.genomamba_cached(out, [vcf], *step, "--context", "512")
    assert len(calls) == 3 and out.read_text() == "scored 3\n"


def test_a_result_from_before_sidecars_is_adopted_only_when_newer(tmp_path):
    vcf, out = tmp_path / "dev.vcf", tmp_path / "scores.tsv"
    vcf.write_text("v1")
    out.write_text("old")
    os.utime(vcf, (out.stat().st_mtime + 10,) * 2)
    assert not recipe.reusable(out, [vcf], ("score-vcf",))  # older than its input: not adopted
    os.utime(vcf, (1_000, 1_000))
    assert recipe.reusable(out, [vcf], ("score-vcf",))  # adopted, and its sidecar written
    assert json.loads(recipe.inputs_sidecar(out).read_text())["step"] == ["score-vcf"]
    assert not recipe.reusable(out, [vcf], ("score-vcf", "--context", "512"))


def _scored(bits: float, stop: float, secs: float = 60.0, tokens: float = 7.5e6) -> dict:
    contrasts = {c: {"model": stop, "kmer": 0.5} for c in scaling.TARGETS}
    return {"fit_seconds": secs, "tokens": tokens,
            "bits_per_base": {"g": {"model_minus_kmer": bits, "model_unmasked": 1.9 + bits},
                              "h": {"model_minus_kmer": bits + 0.1}},
            "vep_auroc": {"g": {"contrasts": contrasts}}}  # fmt: skip


def test_levers_parse_and_compare_against_the_baseline(capsys):
    args = levers.parse_args(["--lever", "ctx", "data.seq_len=4096", "--lever", "sm", "data.softmask_weight=1"])
    assert args.lever == [["ctx", "data.seq_len=4096"], ["sm", "data.softmask_weight=1"]]
    for bad in (["--lever", "ctx"], ["--lever", "a=b", "c=d"], [], ["--lever", "x", "k=v", "--tokens", "10"]):
        with pytest.raises(SystemExit):
            levers.parse_args(bad)
    capsys.readouterr()
    diff = levers.compare(_scored(-0.02, 0.60), _scored(-0.05, 0.64))
    assert diff["bits"] == {"g": pytest.approx(-0.03), "h": pytest.approx(-0.03)}
    assert diff["bits_unmasked"] == {"g": pytest.approx(-0.03), "h": None}
    assert diff["auroc"]["g/stop_gained_vs_synonymous"] == pytest.approx(0.04)
    result = {"baseline": _scored(-0.02, 0.60), "levers": {"ctx": {"overrides": ["data.seq_len=4096"],
                                                                   "run": _scored(-0.05, 0.64, 120.0)}}}  # fmt: skip
    lines = levers.table(result).splitlines()
    # mean over both genomes, then over the focal one (the genome with dev SNVs)
    assert (
        levers._short("data.sources=[{name: a, path: x, weight: 2}, {name: b, path: y}]") == "data.sources=[a:2, b:1]"
    )
    assert levers._short("data.sources=[oops") == "data.sources=[oops" and levers._short("seed=1") == "seed=1"
    # then the focal genome's non-repeat bits/base (the baseline's; a lever's difference from it)
    assert lines[2].startswith("| baseline | - | 7.5M | 1.0 | +0.030 | -0.020 | 1.880 | 0.600 |")
    assert lines[3].startswith("| ctx | `data.seq_len=4096` | 7.5M | 2.0 | +0.000 | -0.050 | -0.030 | 0.640 (+0.040) |")


def test_levers_equal_compute_scales_tokens_by_the_probed_speed_and_reuses_its_probe(tmp_path):
    args = levers.parse_args(["--equal-compute", "--lever", "wide", "model.d_model=192", "--work", str(tmp_path)])
    assert args.equal_compute and args.probe_steps == 30
    with pytest.raises(SystemExit):
        levers.parse_args(["--equal-compute", "--probe-steps", "2", "--lever", "wide", "model.d_model=192"])
    base, slow = {"tokens_per_step": 8192, "step_seconds": 1.0}, {"tokens_per_step": 8192, "step_seconds": 2.5}
    assert levers.matched_tokens(7.5e6, base, slow) == pytest.approx(3e6)
    assert levers.matched_tokens(7.5e6, base, {"tokens_per_step": 16384, "step_seconds": 1.0}) == pytest.approx(15e6)
    # a rerun (scoring after --train-only) reuses the probe of the same budget, so it finds the same run folder
    cached = {"for_tokens": 7.5e6, "overrides": ["model.d_model=192"], "baseline": base, "lever": slow, "tokens": 3e6}
    recipe.write_json(tmp_path / "wide" / "probe.json", cached)
    assert levers.probe_pair(args, "wide", [], ["model.d_model=192"], run=None) == cached


def test_levers_reuse_the_scaling_curves_scored_run_as_baseline(tmp_path):
    path = tmp_path / "scaling.json"
    path.write_text(json.dumps({"runs": [{**_scored(-0.01, 0.55), "tokens": 2_400_256},
                                         {**_scored(-0.02, 0.60), "tokens": 7_503_872}]}))  # fmt: skip
    base = levers.scored_baseline(path, 7.5e6)
    assert base["tokens"] == 7_503_872 and base["reused_from"] == str(path)
    with pytest.raises(SystemExit, match="no scored run at 40,000,000 tokens"):
        levers.scored_baseline(path, 4e7)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(SystemExit, match="not a scaling JSON"):
        levers.scored_baseline(tmp_path / "bad.json", 7.5e6)


def test_seed_baselines_copies_the_first_available_cache_once(tmp_path):
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    b.mkdir()
    (b / "baselines.json").write_text('{"key": "k"}')
    assert recipe.seed_baselines(out, [a, b]) == b / "baselines.json"
    assert (out / "baselines.json").read_text() == '{"key": "k"}'
    (b / "baselines.json").write_text('{"key": "other"}')
    assert recipe.seed_baselines(out, [b]) is None  # out has its own: never overwritten
    assert (out / "baselines.json").read_text() == '{"key": "k"}'
    assert recipe.seed_baselines(tmp_path / "new", [out.parent / "out"]) is not None
    assert recipe.seed_baselines(out, [out]) is None


def _snv_run(path: Path, scores, csq) -> dict:
    """A scored run folder whose fly SNV TSV holds ``scores`` (lower = more damaging) for ``csq``."""
    (path / "snvs").mkdir(parents=True)
    rows = "".join(f"4\t{s}\t{c}\n" for s, c in zip(scores, csq))
    (path / "snvs" / "fly.model.c1024.tsv").write_text("chrom\tllr\tCSQ\n" + rows)
    return {"run": str(path), "vep_auroc": {"fly": {"context": 1024}}}


def test_levers_paired_difference_resamples_the_same_snvs_together(tmp_path):
    rng = np.random.default_rng(0)
    csq = np.array(["stop_gained"] * 150 + ["synonymous"] * 150)
    noise = rng.normal(size=300)
    y = (csq == "stop_gained").astype(float)
    base = _snv_run(tmp_path / "base", noise - 0.5 * y, csq)
    better = _snv_run(tmp_path / "better", noise - 0.9 * y, csq)  # the same noise: only the signal differs
    d = levers.paired_differences(base, better, n_boot=200)["fly/stop_gained_vs_synonymous"]
    assert d["difference"] > 0 and d["ci"][0] > 0 and d["n"] == 300  # a small shared-noise gain is resolved
    assert levers._significant(d) and not levers._significant({"ci": [-0.01, 0.02]})
    same = levers.paired_differences(base, base, n_boot=50)["fly/stop_gained_vs_synonymous"]
    assert same["difference"] == 0 and same["ci"] == [0, 0]
    assert "fly/missense_vs_synonymous" not in levers.paired_differences(base, better, n_boot=50)  # no missense
    gone = {"run": str(tmp_path / "gone"), "vep_auroc": base["vep_auroc"]}
    assert levers.paired_differences(gone, better, n_boot=50) == {}  # a reused baseline without its TSVs
    other = _snv_run(tmp_path / "other", noise, csq[::-1])
    with pytest.raises(SystemExit, match="not the same SNVs"):
        levers.paired_differences(base, other, n_boot=50)
    # a baseline reused from a scaling JSON pairs only while its folder still holds that run (same steps)
    reused = {**base, "reused_from": "scaling.json", "steps": 2906}
    (tmp_path / "base" / "summary.json").write_text('{"steps": 8527}')  # the folder was retrained since
    assert levers.paired_differences(reused, better, n_boot=50) == {}
    (tmp_path / "base" / "summary.json").write_text('{"steps": 2906}')
    assert "fly/stop_gained_vs_synonymous" in levers.paired_differences(reused, better, n_boot=50)


def test_levers_merge_combines_levers_of_one_baseline(tmp_path):
    def part(name, run="b", note="n"):
        body = {"baseline": {"run": run}, "levers": {name: {}}, "commands": [name], "note": note}
        recipe.write_json(tmp_path / f"{name}.json", body)
        return tmp_path / f"{name}.json"

    out = levers.merge([part("a"), part("c", note="m")])
    assert list(out["levers"]) == ["a", "c"] and out["commands"] == ["a", "c"] and out["note"] == "n | m"
    with pytest.raises(SystemExit, match="cannot read a levers JSON"):
        levers.merge([part("a"), tmp_path / "missing.json"])
    with pytest.raises(SystemExit, match="baseline x is not b"):
        levers.merge([part("a"), part("d", run="x")])
