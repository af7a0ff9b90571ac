"""Pretraining data: random crops from memory-mapped train windows of one or more genomes, fixed tiles from
their held-out windows.

Reads directories written by ``genomamba windows`` (``tokens.u8``, ``softmask.u8``, ``windows.parquet``); no
FASTA parsing happens in the training loop. Several genomes are ``data.sources`` (``genomamba.pretrain.sources``).

* Train: micro-batch ``i`` is a pure function of ``(seed, rank, i)``: genome (drawn per sample with the sources'
  sampling probabilities; no draw with one genome), window (in proportion to its number of valid crop starts),
  crop start, strand and MLM mask all come from ``np.random.default_rng([seed, rank, i])``. Resuming at optimizer
  step ``s`` therefore restarts the stream at micro-batch ``s * accumulate`` and sees exactly the data an
  uninterrupted run would have seen (no global RNG state involved).
* Sequence-length warm-up: stages of increasing length; every stage keeps ``tokens_per_micro_batch`` fixed, so the
  batch size is ``tokens_per_micro_batch // seq_len`` and tokens per optimizer step stay constant.
* Val/test: per genome, non-overlapping tiles of ``eval_seq_len`` from the start of each held-out window
  (remainder dropped), evenly thinned to ``max_eval_tiles``; each eval batch holds tiles of one genome (its index
  is ``batch["source"]``) and the k-mer baselines are scored on exactly these tiles.
* Loss weights: 0 for N (never a target), ``softmask_weight`` for soft-masked (repeat) bases, 1 otherwise.
"""

from __future__ import annotations

import itertools
import logging
import os

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from genomamba.alphabet import MASK, N, complement
from genomamba.errors import GenomambaError
from genomamba.model.config import Objective
from genomamba.pretrain import genic
from genomamba.pretrain.config import DataConfig, SourceConfig
from genomamba.pretrain.sources import GenomeArrays, Source, describe, sampling_probabilities

log = logging.getLogger(__name__)


def _rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class TrainCrops(Dataset):
    """Micro-batch ``i`` -> dict of (B, L) tensors; B and L follow the warm-up stage of step ``i // accumulate``."""

    def __init__(
        self,
        sources: list[Source],
        probs: np.ndarray,  # (k,) sampling probability of each genome
        cfg: DataConfig,
        objective: Objective,
        random_strand: bool,
        accumulate: int,
        total_micro_batches: int,
        seed: int,
    ):
        self.arrays = GenomeArrays([s.root for s in sources])
        self.probs, self.cfg, self.objective = probs, cfg, objective
        self.random_strand, self.accumulate, self.total, self.seed = (
            random_strand,
            accumulate,
            total_micro_batches,
            seed,
        )
        self.rank = 0
        # per stage length and genome: offsets of the eligible train windows and the cumulative count of their
        # valid crop starts
        self._eligible: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        # gene-centric sampling (genic_weight > 1): per stage length and genome, the weighted bins of crop starts
        # (None: uniform starts, the genome has no annotation or the option is off)
        self._bins: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray] | None]] = {}
        for length in set(cfg.stage_lengths()):
            per_source = []
            for s in sources:
                windows = s.splits["train"]
                ok = windows[:, 1] >= length
                per_source.append((windows[ok, 0], np.cumsum(windows[ok, 1] - length + 1)))
            self._eligible[length] = per_source
            self._bins[length] = [
                None if s.exons is None else genic.weighted_bins(s.splits["train"], length, s.exons, cfg.genic_weight)
                for s in sources
            ]

    def __len__(self) -> int:
        return self.total

    def _starts(self, rng: np.random.Generator, length: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """(genome index, crop start in that genome's tokens.u8), each (B,) int64."""
        eligible = self._eligible[length]
        if len(eligible) == 1:
            genome = np.zeros(batch, np.int64)
            offsets, cum = eligible[0]
            u = rng.integers(0, cum[-1], size=batch)
        else:
            genome = rng.choice(len(eligible), size=batch, p=self.probs)
            totals = np.array([cum[-1] for _, cum in eligible], dtype=np.int64)
            u = np.minimum((rng.random(batch) * totals[genome]).astype(np.int64), totals[genome] - 1)
        start = np.empty(batch, np.int64)
        for g in np.unique(genome):
            offsets, cum = eligible[g]
            sel = genome == g
            bins = self._bins[length][g]
            if bins is not None:  # gene-centric: the same uniform draw, mapped through the weighted bins
                start[sel] = genic.pick(bins, u[sel] / cum[-1])
                continue
            w = np.searchsorted(cum, u[sel], side="right")  # window index per sample
            start[sel] = offsets[w] + u[sel] - np.concatenate([[0], cum[:-1]])[w]
        return genome, start

    def _shape(self, i: int) -> tuple[int, int]:
        length = self.cfg.seq_len_at(i // self.accumulate)
        return self.cfg.tokens_per_micro_batch // length, length

    def positions(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(genome index, crop start) of every sample of micro-batch ``i``, each (B,) int64."""
        batch, length = self._shape(i)
        return self._starts(np.random.default_rng([self.seed, self.rank, i]), length, batch)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        tokens_of, soft_of = self.arrays.open()
        batch, length = self._shape(i)
        rng = np.random.default_rng([self.seed, self.rank, i])
        genome, start = self._starts(rng, length, batch)
        tokens = np.stack([tokens_of[g][s : s + length] for g, s in zip(genome, start)])  # (B, L) uint8
        soft = np.stack([soft_of[g][s : s + length] for g, s in zip(genome, start)])
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
    """Item ``i`` -> a batch of fixed tiles of one genome: input_ids, targets, valid (non-N), softmask, mlm_group,
    all (B, L), and ``source`` (0-dim int64) the genome's index."""

    def __init__(
        self, arrays: GenomeArrays, tiles: list[np.ndarray], length: int, batch: int, n_groups: int, seed: int
    ):
        self.arrays, self.length, self.batch, self.n_groups, self.seed = arrays, length, batch, n_groups, seed
        self.tiles = np.concatenate(tiles) if tiles else np.zeros(0, np.int64)  # this rank's share, all genomes
        # (genome, tile offsets) per item; a batch never mixes genomes
        self.items = [(g, t[j : j + batch]) for g, t in enumerate(tiles) for j in range(0, len(t), batch)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        tokens_of, soft_of = self.arrays.open()
        g, offs = self.items[i]
        tokens = np.stack([tokens_of[g][o : o + self.length] for o in offs])
        soft = np.stack([soft_of[g][o : o + self.length] for o in offs])
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
            "source": torch.tensor(g, dtype=torch.int64),
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


class PretrainDataModule:
    """Lightning-compatible data module (``train/val/test_dataloader``); the Lightning subclass is built lazily.

    ``windows``: one windows directory, a list of ``SourceConfig``, or None for ``cfg.sources``. Call :meth:`check`
    early: it opens and validates every windows directory and the configuration and raises a one-line
    ``GenomambaError`` for a missing/corrupt directory, an empty split or a too-long sequence length.
    """

    def __init__(
        self,
        windows: str | os.PathLike | list[SourceConfig] | None,
        cfg: DataConfig,
        objective: Objective,
        rc_equivariant: bool,
        accumulate: int,
        max_steps: int,
        seed: int,
    ):
        if windows is None:
            windows = cfg.sources
        if isinstance(windows, (str, os.PathLike)):
            windows = [SourceConfig(path=os.fspath(windows))]
        if not windows:
            raise GenomambaError("no windows directory: pass --windows DIR or set data.sources")
        self.source_configs: list[SourceConfig] = list(windows)
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
        self.sources = [Source(src, self.cfg) for src in self.source_configs]
        self.guard_report = None
        guard = self.cfg.homolog_guard
        if guard is not None and guard.protect:
            from genomamba.pretrain.leakage import apply_homolog_guard

            if not set(guard.protect) <= set(self.names):
                raise GenomambaError(f"homolog_guard.protect {guard.protect} names genomes not among {self.names}")
            self.guard_report = apply_homolog_guard(self.sources, guard)
        self.probs = sampling_probabilities(self.sources, self.cfg.temperature)
        self.arrays = GenomeArrays([s.root for s in self.sources])
        self._checked = True
        describe(self.sources, self.probs)
        log.info("eval tiles of %d bp; random strand %s", self.cfg.eval_len, "on" if self.random_strand else "off")

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.source_configs]

    def _only(self) -> Source:
        self.check()
        if len(self.sources) != 1:
            raise ValueError("this attribute belongs to a single-genome run; use .sources")
        return self.sources[0]

    @property
    def root(self):
        return self._only().root

    @property
    def splits(self) -> dict[str, np.ndarray]:
        return self._only().splits

    @property
    def tiles(self) -> dict[str, np.ndarray]:
        return self._only().tiles

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
            self.sources,
            self.probs,
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
        tiles = [s.tiles[split][rank::world] for s in self.sources]  # each rank scores its share; sums are reduced
        return self._loader(EvalTiles(self.arrays, tiles, self.cfg.eval_len, batch, self.n_mlm_groups, self.seed))

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
