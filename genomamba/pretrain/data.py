"""Pretraining data: random crops from memory-mapped train windows, fixed tiles from held-out windows.

Reads the directory written by ``genomamba windows`` (``tokens.u8``, ``softmask.u8``, ``windows.parquet``); no
FASTA parsing happens in the training loop.

* Train: micro-batch ``i`` is a pure function of ``(seed, rank, i)``: window (chosen in proportion to its number
  of valid crop starts), crop start, strand and MLM mask all come from ``np.random.default_rng([seed, rank, i])``.
  Resuming at optimizer step ``s`` therefore restarts the stream at micro-batch ``s * accumulate`` and sees exactly
  the data an uninterrupted run would have seen (no global RNG state involved).
* Sequence-length warm-up: stages of increasing length; every stage keeps ``tokens_per_micro_batch`` fixed, so the
  batch size is ``tokens_per_micro_batch // seq_len`` and tokens per optimizer step stay constant.
* Val/test: non-overlapping tiles of ``eval_seq_len`` from the start of each held-out window (remainder dropped),
  evenly thinned to ``max_eval_tiles``; the k-mer baselines are scored on exactly these tiles.
* Loss weights: 0 for N (never a target), ``softmask_weight`` for soft-masked (repeat) bases, 1 otherwise.
"""

from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from genomamba.alphabet import MASK, N, complement
from genomamba.errors import GenomambaError
from genomamba.model.config import Objective
from genomamba.pretrain.config import DataConfig

log = logging.getLogger(__name__)


def _rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class TrainCrops(Dataset):
    """Micro-batch ``i`` -> dict of (B, L) tensors; B and L follow the warm-up stage of step ``i // accumulate``."""

    def __init__(
        self,
        root: Path,
        windows: np.ndarray,  # (n, 2) int64: global offset, length of every train window
        cfg: DataConfig,
        objective: Objective,
        random_strand: bool,
        accumulate: int,
        total_micro_batches: int,
        seed: int,
    ):
        self.root, self.cfg, self.objective = root, cfg, objective
        self.random_strand, self.accumulate, self.total, self.seed = (
            random_strand,
            accumulate,
            total_micro_batches,
            seed,
        )
        self.rank = 0
        self._tokens = self._softmask = None
        # per stage length: eligible windows and the cumulative count of valid crop starts
        self._eligible = {}
        for length in set(cfg.stage_lengths()):
            ok = windows[:, 1] >= length
            starts = windows[ok, 1] - length + 1
            self._eligible[length] = (windows[ok, 0], np.cumsum(starts))

    def __len__(self) -> int:
        return self.total

    def __getstate__(self):  # worker processes reopen the memmaps instead of pickling the genome
        state = dict(self.__dict__)
        state["_tokens"] = state["_softmask"] = None
        return state

    def _open(self) -> None:
        if self._tokens is None:
            self._tokens = np.memmap(self.root / "tokens.u8", dtype=np.uint8, mode="r")
            self._softmask = np.memmap(self.root / "softmask.u8", dtype=np.uint8, mode="r")

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        self._open()
        length = self.cfg.seq_len_at(i // self.accumulate)
        batch = self.cfg.tokens_per_micro_batch // length
        rng = np.random.default_rng([self.seed, self.rank, i])
        offsets, cum = self._eligible[length]
        u = rng.integers(0, cum[-1], size=batch)
        w = np.searchsorted(cum, u, side="right")  # window index per sample
        start = offsets[w] + u - np.concatenate([[0], cum[:-1]])[w]
        tokens = np.stack([self._tokens[s : s + length] for s in start])  # (B, L) uint8
        soft = np.stack([self._softmask[s : s + length] for s in start])
        if self.random_strand:
            flip = rng.random(batch) < 0.5
            tokens[flip] = complement(tokens[flip])[:, ::-1]
            soft[flip] = soft[flip][:, ::-1]
        return make_targets(tokens, soft, self.objective, self.cfg, rng)


def make_targets(
    tokens: np.ndarray, soft: np.ndarray, objective: Objective, cfg: DataConfig, rng: np.random.Generator
) -> dict[str, torch.Tensor]:
    """(B, L) tokens -> input_ids, targets (int64) and loss weights (float32), all (B, L).

    "all": every non-N position is a target. "mlm": 15% of non-N positions are targets; of those 80% become
    [MASK], 10% a random base, 10% stay (BERT).
    """
    valid = tokens < N
    weight = np.where(soft.astype(bool), cfg.softmask_weight, 1.0).astype(np.float32) * valid
    inputs = tokens.copy()
    if objective == "mlm":
        chosen = valid & (rng.random(tokens.shape) < cfg.mlm_probability)
        r = rng.random(tokens.shape)
        inputs[chosen & (r < 0.8)] = MASK
        rand = chosen & (r >= 0.8) & (r < 0.9)
        inputs[rand] = rng.integers(0, 4, size=int(rand.sum()))
        weight = weight * chosen
    return {
        "input_ids": torch.from_numpy(inputs.astype(np.int64)),
        "targets": torch.from_numpy(np.where(valid, tokens, 0).astype(np.int64)),
        "weights": torch.from_numpy(weight),
    }


class EvalTiles(Dataset):
    """Item ``i`` -> a batch of fixed tiles: input_ids, targets, valid (non-N), softmask, mlm_group, all (B, L)."""

    def __init__(self, root: Path, tiles: np.ndarray, length: int, batch: int, n_groups: int, seed: int):
        self.root, self.length, self.batch, self.n_groups, self.seed = root, length, batch, n_groups, seed
        self.tiles = tiles  # (n,) int64 global offsets, already this rank's share
        self._tokens = self._softmask = None

    def __len__(self) -> int:
        return (len(self.tiles) + self.batch - 1) // self.batch

    __getstate__ = TrainCrops.__getstate__
    _open = TrainCrops._open

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        self._open()
        offs = self.tiles[i * self.batch : (i + 1) * self.batch]
        tokens = np.stack([self._tokens[o : o + self.length] for o in offs])
        soft = np.stack([self._softmask[o : o + self.length] for o in offs])
        # MLM scoring groups: a fixed random partition of each tile's positions (seeded by the tile offset)
        groups = np.stack(
            [np.random.default_rng([self.seed, int(o)]).integers(0, self.n_groups, self.length) for o in offs]
        )
        valid = tokens < N
        return {
            "input_ids": torch.from_numpy(tokens.astype(np.int64)),
            "targets": torch.from_numpy(np.where(valid, tokens, 0).astype(np.int64)),
            "valid": torch.from_numpy(valid),
            "softmask": torch.from_numpy(soft.astype(bool)),
            "mlm_group": torch.from_numpy(groups.astype(np.int64)),
        }


class _StreamSampler(Sampler[int]):
    """Micro-batch indices ``start, start+1, ...`` without end (no ``__len__``).

    Training length is set by ``max_steps`` alone: Lightning sees one endless epoch, so a resumed run never hits
    an epoch boundary that would restart the stream, and its restored batch counter stays equal to ``start``.
    """

    def __init__(self, start: int):
        self.start = start

    def __iter__(self):
        return itertools.count(self.start)


def _even_subset(n: int, k: int) -> np.ndarray:
    if n <= k:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


class PretrainDataModule:
    """Lightning-compatible data module (``train/val/test_dataloader``); the Lightning subclass is built lazily.

    Call :meth:`check` early: it opens and validates the windows directory and the configuration and raises a
    one-line ``GenomambaError`` for a missing/corrupt directory, an empty split or a too-long sequence length.
    """

    def __init__(
        self,
        windows_dir: str | os.PathLike,
        cfg: DataConfig,
        objective: Objective,
        rc_equivariant: bool,
        accumulate: int,
        max_steps: int,
        seed: int,
    ):
        self.root = Path(windows_dir)
        self.cfg, self.objective, self.accumulate, self.max_steps, self.seed = (
            cfg,
            objective,
            accumulate,
            max_steps,
            seed,
        )
        self.random_strand = {"always": True, "never": False, "auto": not rc_equivariant}[cfg.random_strand]
        self.n_mlm_groups = max(1, round(1.0 / cfg.mlm_probability)) if objective == "mlm" else 1
        self._checked = False
        self.trainer = None  # set by the Lightning wrapper

    # ---- validation of the input -------------------------------------------------------------------------
    def check(self) -> None:
        if self._checked:
            return
        from genomamba.genome.windows import WindowsDir

        wd = WindowsDir(self.root)  # raises GenomambaError for a missing/corrupt dir or inconsistent manifest
        self.windows_dir = wd
        table = wd.windows
        self.splits: dict[str, np.ndarray] = {}
        for name in ("train", "val", "test"):
            part = table.filter(table["split"] == name)
            if part.height == 0:
                raise GenomambaError(f"split {name!r} has no windows", self.root / "windows.parquet")
            lengths = (part["end"] - part["start"]).to_numpy().astype(np.int64)
            self.splits[name] = np.stack([part["offset"].to_numpy().astype(np.int64), lengths], axis=1)
        longest = int(self.splits["train"][:, 1].max())
        too_long = max(self.cfg.stage_lengths())
        if too_long > longest:
            raise GenomambaError(
                f"data.seq_len {too_long} is longer than every train window (longest {longest})",
                self.root / "windows.parquet",
            )
        self.tiles: dict[str, np.ndarray] = {}
        for name in ("val", "test"):
            tiles = [
                off + np.arange(length // self.cfg.eval_len, dtype=np.int64) * self.cfg.eval_len
                for off, length in self.splits[name]
            ]
            tiles = np.concatenate(tiles) if tiles else np.zeros(0, np.int64)
            if tiles.size == 0:
                longest_eval = int(self.splits[name][:, 1].max())
                raise GenomambaError(
                    f"split {name!r} has no window of at least eval length {self.cfg.eval_len} "
                    f"(longest {longest_eval})",
                    self.root / "windows.parquet",
                )
            self.tiles[name] = tiles[_even_subset(tiles.size, self.cfg.max_eval_tiles)]
        self._checked = True
        log.info(
            "windows %s: %d train / %d val / %d test windows; %d val and %d test tiles of %d bp; random strand %s",
            self.root,
            len(self.splits["train"]),
            len(self.splits["val"]),
            len(self.splits["test"]),
            self.tiles["val"].size,
            self.tiles["test"].size,
            self.cfg.eval_len,
            "on" if self.random_strand else "off",
        )

    # ---- arrays for the k-mer baselines (exactly the tiles the model is scored on) --------------------------
    def train_segments(self) -> list[np.ndarray]:
        self.check()
        return [np.asarray(self.windows_dir.tokens[o : o + n]) for o, n in self.splits["train"]]

    def tile_arrays(self, split: str) -> list[np.ndarray]:
        self.check()
        n = self.cfg.eval_len
        return [np.asarray(self.windows_dir.tokens[o : o + n]) for o in self.tiles[split]]

    # ---- dataloaders ------------------------------------------------------------------------------------
    def _loader(self, ds: Dataset, sampler: Sampler | None = None) -> DataLoader:
        return DataLoader(
            ds,
            batch_size=None,  # every dataset item is already a batch
            sampler=sampler,
            num_workers=self.cfg.num_workers,
            pin_memory=self.cfg.pin_memory,
            persistent_workers=False,
        )

    def train_dataloader(self) -> DataLoader:
        self.check()
        rank, _ = _rank_world()
        total = self.max_steps * self.accumulate
        ds = TrainCrops(
            self.root,
            self.splits["train"],
            self.cfg,
            self.objective,
            self.random_strand,
            self.accumulate,
            total,
            self.seed,
        )
        ds.rank = rank
        step = int(self.trainer.global_step) if self.trainer is not None else 0
        start = step * self.accumulate
        if start:
            log.info("resuming the training stream at optimizer step %d (micro-batch %d)", step, start)
        return self._loader(ds, _StreamSampler(start))

    def eval_dataloader(self, split: str) -> DataLoader:
        self.check()
        rank, world = _rank_world()
        batch = max(1, self.cfg.tokens_per_micro_batch // self.cfg.eval_len)
        tiles = self.tiles[split][rank::world]  # each rank scores its share; sums are reduced
        return self._loader(EvalTiles(self.root, tiles, self.cfg.eval_len, batch, self.n_mlm_groups, self.seed))

    def val_dataloader(self) -> DataLoader:
        return self.eval_dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self.eval_dataloader("test")


def lightning_datamodule(dm: PretrainDataModule):
    """Wrap ``dm`` in a ``LightningDataModule`` (kept separate so the data layer imports without Lightning)."""
    import lightning.pytorch as pl

    class _PretrainLDM(pl.LightningDataModule):
        def __init__(self):
            super().__init__()
            self.inner = dm

        def setup(self, stage: str) -> None:
            dm.trainer = self.trainer
            dm.check()

        def train_dataloader(self):
            return dm.train_dataloader()

        def val_dataloader(self):
            return dm.val_dataloader()

        def test_dataloader(self):
            return dm.test_dataloader()

    return _PretrainLDM()
