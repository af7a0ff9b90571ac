"""Pretraining data module: crops, strands, warm-up stages, tiles, loss weights, MLM, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genomamba.alphabet import MASK, N, reverse_complement
from genomamba.pretrain.config import DataConfig, WarmupStage
from genomamba.pretrain.data import PretrainDataModule, TrainCrops


def _dm(windows_dir, objective="all", rc_equivariant=True, **kw) -> PretrainDataModule:
    cfg = DataConfig(**{"seq_len": 128, "tokens_per_micro_batch": 512, "max_eval_tiles": 1000, **kw})
    dm = PretrainDataModule(windows_dir, cfg, objective, rc_equivariant, accumulate=2, max_steps=10, seed=3)
    dm.check()
    return dm


def _train_ds(dm: PretrainDataModule) -> TrainCrops:
    return dm.train_dataloader().dataset


def test_crops_come_from_train_windows_and_are_deterministic(windows_dir):
    dm = _dm(windows_dir, random_strand="never")
    ds = _train_ds(dm)
    tokens = np.memmap(windows_dir / "tokens.u8", dtype=np.uint8, mode="r")
    train = dm.splits["train"]
    a, b = ds[5], ds[5]
    assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["weights"], b["weights"])
    assert not torch.equal(ds[5]["input_ids"], ds[6]["input_ids"])
    # every crop is a substring of one train window (never of val/test)
    for row in ds[7]["input_ids"].numpy():
        hits = [
            s
            for o, n in train
            for s in range(o, o + n - 128 + 1)
            if tokens[s] == row[0] and np.array_equal(tokens[s : s + 128], row)
        ]
        assert hits, "crop not found in any train window"


def test_random_strand_uses_both_orientations(windows_dir):
    dm = _dm(windows_dir, random_strand="always")
    fwd = _dm(windows_dir, random_strand="never")
    # same rng stream: window/start choice identical, the flipped rows are the reverse complement
    a, b = _train_ds(dm)[4]["input_ids"].numpy(), _train_ds(fwd)[4]["input_ids"].numpy()
    same = [np.array_equal(x, y) for x, y in zip(a, b)]
    rc = [np.array_equal(x, reverse_complement(y.astype(np.uint8))) for x, y in zip(a, b)]
    assert all(s or r for s, r in zip(same, rc)) and any(rc) and any(same)
    assert dm.random_strand and not fwd.random_strand
    # auto: off for RC-equivariant models, on otherwise
    assert not _dm(windows_dir, rc_equivariant=True).random_strand
    assert _dm(windows_dir, rc_equivariant=False).random_strand


def test_warmup_stages_keep_tokens_per_step_constant(windows_dir):
    dm = _dm(windows_dir, warmup_stages=[WarmupStage(32, 2), WarmupStage(64, 1)])
    ds = _train_ds(dm)  # accumulate=2: micro-batches 0-3 are steps 0-1, 4-5 step 2, then 128
    shapes = [tuple(ds[i]["input_ids"].shape) for i in (0, 3, 4, 5, 6, 19)]
    assert shapes == [(16, 32), (16, 32), (8, 64), (8, 64), (4, 128), (4, 128)]
    assert {a * b for a, b in shapes} == {512}


def test_weights_softmask_and_n(windows_dir):
    dm = _dm(windows_dir, random_strand="never", softmask_weight=0.25)
    ds = _train_ds(dm)
    soft = np.memmap(windows_dir / "softmask.u8", dtype=np.uint8, mode="r")
    seen = set()
    for i in range(20):
        batch = ds[i]
        w = batch["weights"].numpy()
        seen.update(np.unique(w).tolist())
    assert seen <= {0.0, 0.25, 1.0} and {0.25, 1.0} <= seen
    assert soft.sum() > 0
    # N positions: weight 0 (the synthetic genome has an N run inside a train or held-out window)
    tokens = np.memmap(windows_dir / "tokens.u8", dtype=np.uint8, mode="r")
    assert (tokens == N).sum() >= 300


def test_n_never_a_target_in_eval_tiles(windows_dir):
    dm = _dm(windows_dir)
    for split in ("val", "test"):
        for batch in dm.eval_dataloader(split):
            valid = batch["valid"].numpy()
            ids = batch["input_ids"].numpy()
            assert np.array_equal(valid, ids < N)


def test_mlm_masking_ratios(windows_dir):
    dm = _dm(windows_dir, objective="mlm", random_strand="never", seq_len=512, tokens_per_micro_batch=8192)
    ds = _train_ds(dm)
    chosen = masked = rand_or_kept = valid = 0
    for i in range(4):
        b = ds[i]
        w = b["weights"].numpy() > 0
        ids, tgt = b["input_ids"].numpy(), b["targets"].numpy()
        valid += int((tgt >= 0).sum())
        chosen += int(w.sum())
        masked += int((ids[w] == MASK).sum())
        rand_or_kept += int((ids[w] < 4).sum())
        assert (ids[~w] != MASK).all()  # only targets are masked
    assert chosen / valid == pytest.approx(0.15, abs=0.02)
    assert masked / chosen == pytest.approx(0.8, abs=0.03)
    assert rand_or_kept / chosen == pytest.approx(0.2, abs=0.03)


def test_eval_tiles_fixed_non_overlapping_and_sharded(windows_dir, monkeypatch):
    dm = _dm(windows_dir)
    for split in ("val", "test"):
        tiles = dm.tiles[split]
        assert np.all(np.diff(tiles) >= 128)
        for off in tiles:  # inside one held-out window
            assert any(o <= off and off + 128 <= o + n for o, n in dm.splits[split])
    import genomamba.pretrain.data as mod

    seen = []
    for rank in (0, 1):
        monkeypatch.setattr(mod, "_rank_world", lambda r=rank: (r, 2))
        seen.append(dm.eval_dataloader("val").dataset.tiles)
    assert sorted(np.concatenate(seen).tolist()) == sorted(dm.tiles["val"].tolist())
    thin = _dm(windows_dir, max_eval_tiles=3)
    assert thin.tiles["val"].size == 3 and set(thin.tiles["val"]) <= set(dm.tiles["val"])


def test_resume_position(windows_dir):
    dm = _dm(windows_dir)

    class FakeTrainer:
        global_step = 3

    dm.trainer = FakeTrainer()
    loader = dm.train_dataloader()
    it = iter(loader.sampler)
    assert [next(it), next(it)] == [6, 7]
    first = next(iter(loader))
    assert torch.equal(first["input_ids"], loader.dataset[6]["input_ids"])


@pytest.mark.parametrize(
    "kw,msg",
    [
        ({"seq_len": 4096, "tokens_per_micro_batch": 4096}, "longer than every train window"),
        ({"eval_seq_len": 8192, "tokens_per_micro_batch": 8192}, "no window of at least eval length"),
    ],
)
def test_too_long_sequences_rejected(windows_dir, kw, msg):
    from genomamba.errors import GenomambaError

    with pytest.raises(GenomambaError, match=msg):
        _dm(windows_dir, **kw)


@pytest.mark.parametrize(
    "kw",
    [
        {"tokens_per_micro_batch": 100},  # not a multiple of seq_len
        {"warmup_stages": [WarmupStage(256, 5)]},  # a warm-up stage longer than the final length
        {"softmask_weight": 1.5},
        {"mlm_probability": 0.0},
    ],
)
def test_bad_data_config(kw):
    with pytest.raises(ValueError):
        DataConfig(**{"seq_len": 128, "tokens_per_micro_batch": 512, **kw})
