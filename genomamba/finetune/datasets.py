"""The one loader for labeled sequence datasets (classification or regression), with one-line errors.

Two input kinds, chosen by ``DataConfig.fasta``:

* sequence tables (``fasta`` unset): CSV/TSV/Parquet (``.gz`` allowed) with a sequence and a label column (the
  GUE / Genomic-Benchmarks layout). ``path`` is either a directory holding ``train``, ``dev``|``val``|``valid``|
  ``validation`` and ``test`` files, or one file with a split column.
* intervals (``fasta`` set to a FASTA path or a bundled genome name): BED/TSV/Parquet with ``chrom, start, end``
  (0-based half-open), optional ``strand`` and ``name``, a label column and a split column (the layout
  ``genomamba make-task`` writes). A headerless BED gets the columns chrom, start, end, name, score, strand, then
  col7, col8, ... Sequences come from ``genomamba.genome.fasta.Genome``, reverse-complemented on ``-``, with
  ``flank`` bases of context on both sides (positions past a chromosome end become N; the interval itself must
  lie on the chromosome).

Split names are normalised to ``train``, ``val`` (from dev/val/valid/validation) and ``test``. ``resplit`` re-deals
the rows of one split (or ``all``) into train/val/test by ``resplit_fractions`` with a fixed ``split_seed``, for
datasets that ship without a training split (GUE EMP) or only one file (plant promoters).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from genomamba.alphabet import N, encode, reverse_complement
from genomamba.errors import GenomambaError
from genomamba.finetune.config import DataConfig
from genomamba.finetune.labels import TaskKind, Where, encode_labels, missing_labels
from genomamba.finetune.tables import TABLE_SUFFIXES, read_table, strip_gz
from genomamba.genome.splits import SPLIT_ALIASES, SPLITS, hold_out

log = logging.getLogger(__name__)


@dataclass
class Split:
    """One split: token arrays (uint8, variable length), labels and row identifiers, all of length n."""

    name: str
    ids: list[str]
    tokens: list[np.ndarray]
    labels: np.ndarray  # int64 class indices (classification) or float32 targets (regression)

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass
class LabeledData:
    task: TaskKind
    classes: list[str]  # class names in index order; empty for regression
    splits: dict[str, Split]
    source: str

    @property
    def n_outputs(self) -> int:
        return 1 if self.task in ("binary", "regression") else len(self.classes)

    def split(self, name: str) -> Split:
        """The named split; an unknown or empty split is a ``GenomambaError``."""
        name = SPLIT_ALIASES.get(name, name)
        part = self.splits.get(name)
        if part is None or len(part) == 0:
            have = ", ".join(f"{k} ({len(v)})" for k, v in self.splits.items() if len(v)) or "none"
            raise GenomambaError(f"split {name!r} is empty (splits with rows: {have})", self.source)
        return part

    def summary(self) -> dict:
        out: dict = {"task": self.task, "classes": self.classes, "source": self.source}
        for name, part in self.splits.items():
            info: dict = {"n": len(part)}
            if len(part):
                lengths = np.fromiter((t.size for t in part.tokens), dtype=np.int64)
                info.update(min_length=int(lengths.min()), max_length=int(lengths.max()))
                if self.task != "regression":
                    info["class_counts"] = np.bincount(
                        part.labels[part.labels >= 0], minlength=len(self.classes)
                    ).tolist()
            out[name] = info
        return out


# ----------------------------------------------------------------------------------------------------- reading


def _require(df: pl.DataFrame, column: str, path: Path, what: str) -> None:
    if column not in df.columns:
        have = ", ".join(c for c in df.columns if c != "_line")
        raise GenomambaError(f"missing {what} column {column!r} (columns: {have})", path)


def _split_files(directory: Path) -> dict[str, Path]:
    """Map split name -> file for a directory of ``train``/``dev``/``test`` tables."""
    found: dict[str, Path] = {}
    for p in sorted(directory.iterdir()):
        stem = strip_gz(p)
        base, suffix = os.path.splitext(stem)
        if suffix not in TABLE_SUFFIXES or base.lower() not in SPLIT_ALIASES:
            continue
        split = SPLIT_ALIASES[base.lower()]
        if split in found:
            raise GenomambaError(f"two files for split {split!r}: {found[split].name} and {p.name}", directory)
        found[split] = p
    if not found:
        raise GenomambaError(
            "no train/dev/val/test tables (.csv/.tsv/.parquet, optionally .gz) in directory", directory
        )
    return found


def _load_frames(cfg: DataConfig, default_split: str | None = None) -> list[tuple[Path, pl.DataFrame]]:
    """Read the input as (file, frame) pairs, each frame with a normalised ``_split`` column."""
    path = Path(cfg.path)
    if not cfg.path:
        raise GenomambaError("no dataset path given (data.path)")
    if path.is_dir():
        out = []
        for split, file in _split_files(path).items():
            df = read_table(file, bed_columns=cfg.fasta is not None)
            out.append((file, df.with_columns(pl.lit(split).alias("_split"))))
        return out
    df = read_table(path, bed_columns=cfg.fasta is not None)
    if cfg.split_column in df.columns:
        raw = df[cfg.split_column].to_list()
        norm = []
        for value, line in zip(raw, df["_line"].to_list()):
            split = SPLIT_ALIASES.get(value.lower())
            if split is None:
                raise GenomambaError(f"unknown split {value!r} (expected train, dev/val or test)", path, f"line {line}")
            norm.append(split)
        df = df.with_columns(pl.Series("_split", norm))
    elif cfg.resplit == "all":
        df = df.with_columns(pl.lit("all").alias("_split"))
    elif default_split is not None:
        df = df.with_columns(pl.lit(default_split).alias("_split"))
    else:
        raise GenomambaError(
            f"missing split column {cfg.split_column!r} (or set data.resplit=all to split by seed)", path
        )
    return [(path, df)]


# ------------------------------------------------------------------------------------------------- sequences


def _sequences_from_table(path: Path, df: pl.DataFrame, cfg: DataConfig) -> list[np.ndarray]:
    _require(df, cfg.sequence_column, path, "sequence")
    out = []
    for seq, line in zip(df[cfg.sequence_column].to_list(), df["_line"].to_list()):
        if not seq:
            raise GenomambaError("empty sequence", path, f"line {line}")
        try:
            out.append(encode(seq))
        except GenomambaError as exc:
            raise GenomambaError(f"{exc.problem} in column {cfg.sequence_column!r}", path, f"line {line}") from None
    return out


def open_genome(name_or_path: str):
    """A ``Genome`` for a FASTA path or a bundled genome name."""
    from genomamba.genome.fasta import Genome

    fasta = name_or_path
    if not Path(name_or_path).exists():
        from genomamba.genome.registry import resolve_genome

        fasta, _ = resolve_genome(name_or_path)
    return Genome(fasta)


def fetch_interval(genome, chrom: str, start: int, end: int, strand: str, flank: int) -> np.ndarray:
    """Tokens of [start - flank, end + flank) on ``strand``; bases past a chromosome end are N (uint8 (L,))."""
    length = genome.contigs[chrom]
    lo, hi = start - flank, end + flank
    seq = encode(genome.fetch(chrom, max(lo, 0), min(hi, length)))
    if lo < 0 or hi > length:
        seq = np.concatenate([np.full(max(-lo, 0), N, np.uint8), seq, np.full(max(hi - length, 0), N, np.uint8)])
    return reverse_complement(seq) if strand == "-" else seq


def _sequences_from_intervals(path: Path, df: pl.DataFrame, cfg: DataConfig, genome) -> list[np.ndarray]:
    for col in ("chrom", "start", "end"):
        _require(df, col, path, "interval")
    has_strand = "strand" in df.columns
    strands = df["strand"].to_list() if has_strand else ["+"] * df.height
    resolved: dict[str, str] = {}
    out = []
    rows = zip(df["chrom"].to_list(), df["start"].to_list(), df["end"].to_list(), strands, df["_line"].to_list())
    for chrom, start_s, end_s, strand, line in rows:
        where = f"line {line}"
        if not (start_s.lstrip("-").isdigit() and end_s.lstrip("-").isdigit()):
            raise GenomambaError(f"start/end must be integers, got {start_s!r}, {end_s!r}", path, where)
        start, end = int(start_s), int(end_s)
        if chrom not in resolved:
            try:
                resolved[chrom] = genome.resolve(chrom)
            except GenomambaError as exc:
                raise GenomambaError(f"{exc.problem}", path, where) from None
        name = resolved[chrom]
        length = genome.contigs[name]
        if start < 0 or end <= start:
            raise GenomambaError(f"invalid interval {chrom}:{start}-{end} (need 0 <= start < end)", path, where)
        if end > length:
            raise GenomambaError(
                f"interval {chrom}:{start}-{end} runs off the chromosome ({name} has {length} bases)", path, where
            )
        if strand not in ("+", "-", "."):
            raise GenomambaError(f"strand must be +, - or ., got {strand!r}", path, where)
        out.append(fetch_interval(genome, name, start, end, strand, cfg.flank))
    return out


# ------------------------------------------------------------------------------------------------------ main


@dataclass
class _Rows:
    """Every row of the input, in file order: tokens (uint8 (L,)), raw label, split, id and (file, line)."""

    tokens: list[np.ndarray] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    where: list[Where] = field(default_factory=list)


def _row_ids(path: Path, df: pl.DataFrame, cfg: DataConfig, id_column: str | None) -> list[str]:
    if id_column is not None and id_column in df.columns:
        return df[id_column].to_list()
    if cfg.id_column is not None:
        _require(df, cfg.id_column, path, "id")
    return [f"{path.name}:{line}" for line in df["_line"].to_list()]


def _read_rows(cfg: DataConfig, frames: list[tuple[Path, pl.DataFrame]], unlabeled: bool) -> _Rows:
    genome = open_genome(cfg.fasta) if cfg.fasta is not None else None
    id_column = cfg.id_column or ("name" if cfg.fasta is not None else None)
    rows = _Rows()
    for path, df in frames:
        if not unlabeled:
            _require(df, cfg.label_column, path, "label")
        if genome is None:
            tokens = _sequences_from_table(path, df, cfg)
        else:
            tokens = _sequences_from_intervals(path, df, cfg, genome)
        lines = df["_line"].to_list()
        label_values = [""] * df.height if unlabeled else df[cfg.label_column].to_list()
        for label, line in zip(label_values, lines):
            if label == "" and not unlabeled:
                raise GenomambaError(f"empty label in column {cfg.label_column!r}", path, f"line {line}")
        rows.tokens += tokens
        rows.labels += label_values
        rows.splits += df["_split"].to_list()
        rows.ids += _row_ids(path, df, cfg, id_column)
        rows.where += [(path, line) for line in lines]
    return rows


def load_labeled(cfg: DataConfig, *, require_labels: bool = True, default_split: str | None = None) -> LabeledData:
    """Load, validate and split a labeled dataset; every malformed input raises a one-line ``GenomambaError``.

    ``require_labels=False`` (prediction on new data, with ``task`` and ``classes`` fixed by a checkpoint) allows
    a missing label column: labels are then -1 (classification) or NaN (regression). ``default_split`` puts all
    rows of a file without a split column into that split.
    """
    frames = _load_frames(cfg, default_split)
    unlabeled = not require_labels and any(cfg.label_column not in df.columns for _, df in frames)
    if unlabeled and (cfg.task == "auto" or (cfg.task != "regression" and not cfg.classes)):
        raise GenomambaError("unlabeled input needs a fixed task and classes (from a checkpoint)", cfg.path)
    rows = _read_rows(cfg, frames, unlabeled)
    split_arr = np.asarray(rows.splits, dtype=object)
    if cfg.resplit is not None:
        split_arr = _resplit(split_arr, cfg)
    if np.any(split_arr == "all"):  # only possible without resplit; _load_frames guards this, kept as a check
        raise GenomambaError("rows without a split", cfg.path)
    if unlabeled:
        task = cfg.task  # fixed by the checkpoint (checked above)
        classes, labels = missing_labels(len(rows.labels), task, cfg.classes or [])
    else:
        train_idx = np.flatnonzero(split_arr == "train")
        task, classes, labels = encode_labels(rows.labels, rows.where, cfg.task, cfg.classes, train_idx, cfg.path)
    splits = {}
    for name in SPLITS:
        idx = np.flatnonzero(split_arr == name)
        splits[name] = Split(name, [rows.ids[i] for i in idx], [rows.tokens[i] for i in idx], labels[idx])
    log.info("loaded %s: %s", cfg.path, {k: len(v) for k, v in splits.items()})
    return LabeledData(task=task, classes=classes, splits=splits, source=str(cfg.path))


def _resplit(split_arr: np.ndarray, cfg: DataConfig) -> np.ndarray:
    """Re-deal the rows of ``cfg.resplit`` into train/val/test by ``genomamba.genome.splits.hold_out`` (rows of
    weight 1: val and test get ``floor(fraction * rows)`` rows each, train the rest)."""
    source = cfg.resplit if cfg.resplit == "all" else SPLIT_ALIASES[cfg.resplit]
    idx = np.flatnonzero(split_arr == source) if source != "all" else np.arange(split_arr.size)
    if idx.size == 0:
        raise GenomambaError(f"data.resplit={cfg.resplit}: that split has no rows", cfg.path)
    _, val_frac, test_frac = cfg.resplit_fractions
    result = hold_out([1] * idx.size, val_frac, test_frac, cfg.split_seed)
    out = split_arr.copy()
    out[idx] = result.labels
    counts = [int(np.sum(out[idx] == s)) for s in SPLITS]
    log.info("resplit %d rows of %s with seed %d into train/val/test = %s", idx.size, source, cfg.split_seed, counts)
    return out


def describe_source(cfg: DataConfig) -> str:
    """One line naming the dataset and how it was split (recorded in metrics and checkpoints)."""
    text = cfg.path
    if cfg.fasta:
        text += f" + {cfg.fasta} (flank {cfg.flank})"
    if cfg.resplit:
        fr = "/".join(f"{f:g}" for f in cfg.resplit_fractions)
        text += f"; {cfg.resplit} rows resplit train/val/test {fr} with seed {cfg.split_seed}"
    return text


__all__ = [
    "DataConfig",
    "LabeledData",
    "Split",
    "load_labeled",
    "open_genome",
    "fetch_interval",
    "describe_source",
]
