"""Several genomes in one pretraining run: sampling by weight and temperature, determinism and resume, per-genome
eval tiles and metrics, the --windows spec, and the homolog guard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genomamba.errors import GenomambaError
from genomamba.pretrain.config import DataConfig, HomologGuardConfig, SourceConfig
from genomamba.pretrain.data import PretrainDataModule
from genomamba.pretrain.sources import parse_source_spec

ROOT = Path(__file__).resolve().parents[2]


def _sources(dirs, weights: dict[str, float]) -> list[SourceConfig]:
    return [SourceConfig(path=str(dirs[name]), name=name, weight=w) for name, w in weights.items()]


def _dm(sources, seed=3, **kw) -> PretrainDataModule:
    cfg = DataConfig(**{"seq_len": 128, "tokens_per_micro_batch": 512, "max_eval_tiles": 1000, **kw})
    dm = PretrainDataModule(sources, cfg, "all", True, accumulate=1, max_steps=10, seed=seed)
    dm.check()
    return dm


def _genome_counts(dm: PretrainDataModule, n_batches: int) -> np.ndarray:
    ds = dm.train_dataloader().dataset
    draws = np.concatenate([ds.positions(i)[0] for i in range(n_batches)])
    return np.bincount(draws, minlength=len(dm.sources))


def _assert_proportions(counts: np.ndarray, probs: np.ndarray) -> None:
    n = counts.sum()
    se = np.sqrt(probs * (1 - probs) / n)
    assert np.all(np.abs(counts / n - probs) < 5 * se), (counts / n, probs)


def test_sampling_follows_the_weights(genome_dirs):
    dm = _dm(_sources(genome_dirs, {"big": 1.0, "mid": 2.0, "small": 1.0}))
    assert dm.probs == pytest.approx([0.25, 0.5, 0.25])
    _assert_proportions(_genome_counts(dm, 1500), dm.probs)  # 6000 samples


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_sampling_by_temperature(genome_dirs, temperature):
    dm = _dm(_sources(genome_dirs, {"big": 1.0, "mid": 1.0, "small": 1.0}), temperature=temperature)
    sizes = np.array([s.train_bases for s in dm.sources], dtype=float)
    expected = sizes ** (1 / temperature) / (sizes ** (1 / temperature)).sum()
    assert dm.probs == pytest.approx(expected)
    assert sizes[0] > sizes[1] > sizes[2]  # the fixture's genomes differ in size, so T matters
    _assert_proportions(_genome_counts(dm, 1500), dm.probs)
    if temperature > 1:
        assert dm.probs.max() / dm.probs.min() < sizes.max() / sizes.min()  # flatter than proportional


def test_crops_come_from_the_drawn_genome_train_windows(genome_dirs):
    dm = _dm(_sources(genome_dirs, {"big": 1.0, "small": 1.0}), random_strand="never")
    ds = dm.train_dataloader().dataset
    tokens = [np.memmap(s.root / "tokens.u8", dtype=np.uint8, mode="r") for s in dm.sources]
    for i in (0, 7):
        genome, start = ds.positions(i)
        batch = ds[i]["input_ids"].numpy()
        assert set(genome.tolist()) == {0, 1} or i == 7  # both genomes appear in a micro-batch of 4
        for row, g, s in zip(batch, genome, start):
            assert np.array_equal(row, tokens[g][s : s + 128])
            train = dm.sources[g].splits["train"]
            assert any(o <= s and s + 128 <= o + n for o, n in train)


def test_stream_is_a_function_of_seed_rank_and_index(genome_dirs):
    srcs = _sources(genome_dirs, {"big": 1.0, "mid": 1.0, "small": 1.0})
    a, b = _dm(srcs).train_dataloader().dataset, _dm(srcs).train_dataloader().dataset
    assert torch.equal(a[4]["input_ids"], b[4]["input_ids"]) and torch.equal(a[4]["weights"], b[4]["weights"])
    assert not torch.equal(a[4]["input_ids"], a[5]["input_ids"])
    other_seed = _dm(srcs, seed=4).train_dataloader().dataset
    assert not torch.equal(a[4]["input_ids"], other_seed[4]["input_ids"])
    b.rank = 1
    assert not torch.equal(a[4]["input_ids"], b[4]["input_ids"])


def test_resume_restarts_the_stream_at_the_step(genome_dirs):
    dm = _dm(_sources(genome_dirs, {"big": 1.0, "small": 3.0}))

    class FakeTrainer:
        global_step = 4

    dm.trainer = FakeTrainer()
    loader = dm.train_dataloader()
    first = next(iter(loader))
    assert torch.equal(first["input_ids"], loader.dataset[4]["input_ids"])


def test_eval_batches_hold_one_genome_and_cover_every_tile(genome_dirs, monkeypatch):
    dm = _dm(_sources(genome_dirs, {"big": 1.0, "mid": 1.0, "small": 1.0}), max_eval_tiles=5)
    for split in ("val", "test"):
        seen = {i: [] for i in range(3)}
        for batch in dm.eval_dataloader(split):
            g = int(batch["source"])
            tokens = np.memmap(dm.sources[g].root / "tokens.u8", dtype=np.uint8, mode="r")
            for row in batch["input_ids"].numpy():
                hits = [o for o in dm.sources[g].tiles[split] if np.array_equal(tokens[o : o + 128], row)]
                assert hits
                seen[g].append(hits[0])
        for g, s in enumerate(dm.sources):
            assert 0 < s.tiles[split].size <= 5
            assert sorted(seen[g]) == sorted(s.tiles[split].tolist())
    import genomamba.pretrain.data as mod

    shares = []
    for rank in (0, 1):
        monkeypatch.setattr(mod, "_rank_world", lambda r=rank: (r, 2))
        shares.append(dm.eval_dataloader("test").dataset.tiles)
    assert sorted(np.concatenate(shares).tolist()) == sorted(np.concatenate([s.tiles["test"] for s in dm.sources]))


def test_single_genome_attributes_only_for_one_genome(genome_dirs):
    one = _dm(str(genome_dirs["mid"]))
    assert one.splits["train"].shape[1] == 2 and one.names == ["mid"]
    with pytest.raises(ValueError, match="single-genome"):
        _ = _dm(_sources(genome_dirs, {"big": 1.0, "mid": 1.0})).tiles


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("runs/w/fly", ("fly", "runs/w/fly", 1.0)),
        ("dmel=runs/w/fly", ("dmel", "runs/w/fly", 1.0)),
        ("dmel=runs/w/fly:2.5", ("dmel", "runs/w/fly", 2.5)),
        ("x=dir:with:colon", ("x", "dir:with:colon", 1.0)),
        ("runs/w/fly.v2", ("fly_v2", "runs/w/fly.v2", 1.0)),
    ],
)
def test_windows_spec(spec, expected):
    s = parse_source_spec(spec)
    assert (s.name, s.path, s.weight) == expected


@pytest.mark.parametrize(
    "spec,msg", [("a=d:0", "weight must be"), ("a b=d", "letters, digits"), ("a=d:-1", "weight must be")]
)
def test_bad_windows_spec(spec, msg):
    with pytest.raises(GenomambaError, match=msg):
        parse_source_spec(spec)


def test_bad_source_configs():
    two = [SourceConfig(path="a", name="x"), SourceConfig(path="b", name="x")]
    with pytest.raises(ValueError, match="unique"):
        DataConfig(sources=two)
    with pytest.raises(ValueError, match="temperature"):
        DataConfig(temperature=0.0)
    with pytest.raises(ValueError, match="protect"):
        DataConfig(sources=[SourceConfig(path="a")], homolog_guard=HomologGuardConfig(protect=["fly"]))


def test_homolog_guard_drops_the_relatives_orthologs_of_held_out_blocks(genome_dirs):
    # the synthetic genomes repeat a few motifs, so unrelated windows share up to ~15 % of their 24-mers here
    guard = HomologGuardConfig(protect=["big"], k=24, max_shared=0.3)
    srcs = _sources(genome_dirs, {"big": 1.0, "relative": 1.0, "small": 1.0})
    plain = _dm(srcs)
    guarded = _dm(srcs, homolog_guard=guard)
    big, rel = guarded.sources[0], guarded.sources[1]
    # the relative is big with 3 % substitutions at the same coordinates: a relative train window is an ortholog
    # of held-out sequence exactly when it overlaps big's val/test windows
    held = np.concatenate([big.splits["val"], big.splits["test"]])
    held_spans = [(o, o + n) for o, n in held]
    before = plain.sources[1].splits["train"]
    overlaps = np.array([any(o < e and s < o + n for s, e in held_spans) for o, n in before])
    assert overlaps.any() and not overlaps.all()
    kept = {int(o) for o in rel.splits["train"][:, 0]}
    assert kept == {int(o) for o, hit in zip(before[:, 0], overlaps) if not hit}
    assert rel.dropped_windows == int(overlaps.sum())
    report = guarded.guard_report["genomes"]
    assert report["relative"]["dropped_windows"] == int(overlaps.sum())
    assert report["small"]["dropped_windows"] == 0 and "big" not in report  # never screened against itself
    assert np.array_equal(big.splits["train"], plain.sources[0].splits["train"])


def test_end_to_end_three_genomes(tmp_path, genome_dirs, fast_overrides):
    out = tmp_path / "run"
    specs = [f"big={genome_dirs['big']}:2", f"mid={genome_dirs['mid']}", f"small={genome_dirs['small']}"]
    cmd = [sys.executable, "-m", "genomamba", "-q", "pretrain", "--no-progress-bar", "--out", str(out)]
    for spec in specs:
        cmd += ["--windows", spec]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    r = subprocess.run([*cmd, *fast_overrides], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    genomes = summary["genomes"]
    assert list(genomes) == ["big", "mid", "small"]
    assert sum(g["sampling_probability"] for g in genomes.values()) == pytest.approx(1.0)
    assert genomes["big"]["sampling_probability"] == pytest.approx(0.5)
    for g in genomes.values():
        assert 0.5 < g["test_bits_per_base"] < 3.0
        assert set(g["baselines"]["test"]) == {"one_sided_k0", "one_sided_k2", "two_sided_k1"}
        # the same k-mers on the non-repeat bases only (the genomes have lowercase repeats, so they differ)
        unmasked = g["baselines"]["test_unmasked"]
        assert set(unmasked) == set(g["baselines"]["test"]) and all(np.isfinite(v) for v in unmasked.values())
        assert unmasked != g["baselines"]["test"]
        assert g["test_vs_best_two_sided"]["model_bits_per_base"] == g["test_bits_per_base"]
        assert g["data_checksums"]["tokens_md5"] and g["tiles"]["test"] > 0
    mean = np.mean([g["test_bits_per_base"] for g in genomes.values()])
    assert summary["test_best_model"]["test/bits_per_base"] == pytest.approx(mean)
    for name in ("big", "mid", "small"):
        assert f"| {name} |" in r.stdout
    metrics = next((out / "logs" / "csv").glob("version_*/metrics.csv")).read_text()
    assert "val/small/bits_per_base" in metrics and "val/bits_per_base" in metrics
    # the config written beside the run names the genomes, so the run can be repeated from it alone
    import yaml

    written = yaml.safe_load((out / "config.yaml").read_text())["pretrain"]["data"]["sources"]
    assert [s["name"] for s in written] == ["big", "mid", "small"] and written[0]["weight"] == 2.0


def test_kmer_baselines_reuse_a_sibling_runs_cache_only_when_its_key_matches(genome_dirs, tmp_path, monkeypatch):
    import genomamba.pretrain.report as report
    from genomamba.pretrain.config import PretrainConfig

    dm = _dm(_sources(genome_dirs, {"mid": 1.0, "small": 1.0}))
    cfg = PretrainConfig()
    first = report.compute_baselines(dm, cfg, tmp_path / "a")
    calls = []
    real = report._genome_baselines
    monkeypatch.setattr(report, "_genome_baselines", lambda *a: calls.append(a[0].name) or real(*a))
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / "baselines.json").write_text(json.dumps({**first, "key": "other tiles"}))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "baselines.json").write_text("{half-writ")
    again = report.compute_baselines(dm, cfg, tmp_path / "b", elsewhere=[tmp_path / "broken", stale, tmp_path / "a"])
    assert calls == [] and again == first  # the matching sibling's cache, not the stale or broken one
    assert json.loads((tmp_path / "b" / "baselines.json").read_text()) == first
    report.compute_baselines(dm, cfg, tmp_path / "c", elsewhere=[stale])
    assert sorted(calls) == ["mid", "small"]  # a key that does not match is recomputed
