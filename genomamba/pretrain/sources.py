"""The genomes of a pretraining run: each ``data.sources`` entry opened as a ``Source`` (train windows, held-out
tiles), the per-genome sampling probabilities, and the ``--windows NAME=DIR:WEIGHT`` spec.

Hold-out policy. Each genome's val/test blocks are the ones ``genomamba windows`` held out of that directory, so
held-out blocks of a genome never enter training. A relative (another species, or another assembly) is a
different directory with its own blocks and no coordinate map onto the focal genome: its sequence orthologous to
the focal genome's held-out blocks is in training unless ``data.homolog_guard`` screens it out (k-mer sharing,
``genomamba.pretrain.leakage``). Without the guard the focal test bits/base is measured on unseen focal loci whose
orthologs in relatives were seen, as in GPN's multi-species training; the summary records which policy ran.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from genomamba.alphabet import N
from genomamba.errors import GenomambaError
from genomamba.pretrain import genic
from genomamba.pretrain.config import DataConfig, SourceConfig

log = logging.getLogger(__name__)


def parse_source_spec(text: str) -> SourceConfig:
    """``DIR`` | ``NAME=DIR`` | ``NAME=DIR:WEIGHT`` -> SourceConfig (a name defaults to the directory's name)."""
    name, sep, rest = text.partition("=")
    if not sep:
        name, rest = "", text
    path, weight = rest, 1.0
    head, colon, tail = rest.rpartition(":")
    if colon:
        try:
            path, weight = head, float(tail)
        except ValueError:
            path = rest  # a ':' inside the path
    try:
        return SourceConfig(path=path, name=name, weight=weight)
    except ValueError as exc:
        raise GenomambaError(f"--windows {text!r}: {exc}") from None


def _even_subset(n: int, k: int) -> np.ndarray:
    if n <= k:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


class Source:
    """One genome: ``splits[name]`` (n, 2) int64 rows of (offset into tokens.u8, length) per window, and
    ``tiles[val|test]`` the offsets of the fixed eval tiles of ``cfg.eval_len`` bases."""

    def __init__(self, src: SourceConfig, cfg: DataConfig):
        from genomamba.genome.windows import WindowsDir

        self.name, self.weight, self.root = src.name, src.weight, Path(src.path)
        self.windows_dir = WindowsDir(self.root)  # GenomambaError for a missing/corrupt dir
        table = self.windows_dir.windows
        self.splits: dict[str, np.ndarray] = {}
        for split in ("train", "val", "test"):
            part = table.filter(table["split"] == split)
            if part.height == 0:
                raise GenomambaError(f"split {split!r} has no windows", self.root / "windows.parquet")
            lengths = (part["end"] - part["start"]).to_numpy().astype(np.int64)
            self.splits[split] = np.stack([part["offset"].to_numpy().astype(np.int64), lengths], axis=1)
        longest = int(self.splits["train"][:, 1].max())
        too_long = max(cfg.stage_lengths())
        if too_long > longest:
            raise GenomambaError(
                f"data.seq_len {too_long} is longer than every train window (longest {longest})",
                self.root / "windows.parquet",
            )
        self.tiles = {split: self._tiles(split, cfg) for split in ("val", "test")}
        self.dropped_windows = 0  # train windows removed by the homolog guard
        # gene-centric sampling: merged exon intervals in tokens.u8 coordinates, when it is on and annotated
        self.annotation = genic.resolve_annotation(src.annotation, self.name) if cfg.genic_weight > 1 else None
        self.exons = None
        if self.annotation is not None:
            self.exons = genic.exon_intervals(self.annotation, self.windows_dir.contigs)

    def _tiles(self, split: str, cfg: DataConfig) -> np.ndarray:
        n = cfg.eval_len
        tiles = [off + np.arange(length // n, dtype=np.int64) * n for off, length in self.splits[split]]
        tiles = np.concatenate(tiles) if tiles else np.zeros(0, np.int64)
        if tiles.size == 0:
            longest_eval = int(self.splits[split][:, 1].max())
            raise GenomambaError(
                f"split {split!r} has no window of at least eval length {n} (longest {longest_eval})",
                self.root / "windows.parquet",
            )
        return tiles[_even_subset(tiles.size, cfg.max_eval_tiles)]

    @property
    def train_bases(self) -> int:
        return int(self.splits["train"][:, 1].sum())

    def drop_train_windows(self, keep: np.ndarray) -> None:
        """Keep only the train windows where ``keep`` (n_train,) is True; at least one must stay."""
        if not keep.any():
            raise GenomambaError("data.homolog_guard drops every train window of this genome", self.root)
        self.dropped_windows += int((~keep).sum())
        self.splits["train"] = self.splits["train"][keep]

    def segments(self, split: str, unmasked: bool = False) -> list[np.ndarray]:
        """Token arrays of every window of ``split``; ``unmasked``: soft-masked (repeat) bases turned into N."""
        tokens = self.windows_dir.tokens
        if not unmasked:
            return [np.asarray(tokens[o : o + n]) for o, n in self.splits[split]]
        soft = np.memmap(self.root / "softmask.u8", dtype=np.uint8, mode="r")
        return [np.where(soft[o : o + n] > 0, N, tokens[o : o + n]).astype(np.uint8) for o, n in self.splits[split]]

    def tile_arrays(self, split: str, length: int) -> list[np.ndarray]:
        tokens = self.windows_dir.tokens
        return [np.asarray(tokens[o : o + length]) for o in self.tiles[split]]

    def tile_softmask(self, split: str, length: int) -> list[np.ndarray]:
        """(length,) bool per tile of ``tile_arrays``: True where the base is soft-masked (a repeat)."""
        soft = np.memmap(self.root / "softmask.u8", dtype=np.uint8, mode="r")
        return [np.asarray(soft[o : o + length]) > 0 for o in self.tiles[split]]


def sampling_probabilities(sources: list[Source], temperature: float | None) -> np.ndarray:
    """(k,) float64 probabilities of drawing each genome for a training sample (see the config module doc)."""
    w = np.array([s.weight for s in sources], dtype=np.float64)
    if temperature is not None:
        n = np.array([s.train_bases for s in sources], dtype=np.float64)
        w = w * n ** (1.0 / temperature)
    return w / w.sum()


class GenomeArrays:
    """Lazily opened ``tokens.u8`` / ``softmask.u8`` memmaps of several windows directories; worker processes
    reopen them instead of pickling genomes."""

    def __init__(self, roots: list[Path]):
        self.roots = [Path(r) for r in roots]
        self._tokens: list[np.memmap] | None = None
        self._softmask: list[np.memmap] | None = None

    def __getstate__(self):
        return {"roots": self.roots, "_tokens": None, "_softmask": None}

    def open(self) -> tuple[list[np.memmap], list[np.memmap]]:
        if self._tokens is None:
            self._tokens = [np.memmap(r / "tokens.u8", dtype=np.uint8, mode="r") for r in self.roots]
            self._softmask = [np.memmap(r / "softmask.u8", dtype=np.uint8, mode="r") for r in self.roots]
        return self._tokens, self._softmask


def describe(sources: list[Source], probs: np.ndarray) -> None:
    for s, p in zip(sources, probs):
        log.info(
            "genome %s (%s): %d train / %d val / %d test windows, %s train bases, p(sample) %.3f%s",
            s.name,
            os.fspath(s.root),
            len(s.splits["train"]),
            len(s.splits["val"]),
            len(s.splits["test"]),
            f"{s.train_bases:,}",
            p,
            f", {s.dropped_windows} train windows dropped by the homolog guard" if s.dropped_windows else "",
        )
        if s.exons is not None:
            log.info("genome %s: exons from %s cover %.1f %% of its train bases (gene-centric sampling)",
                     s.name, s.annotation, 100 * genic.exonic_fraction(s.exons, s.splits["train"]))  # fmt: skip
