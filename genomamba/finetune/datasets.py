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

import gzip
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from genomamba.alphabet import N, encode, reverse_complement
from genomamba.errors import GenomambaError
from genomamba.genome.splits import SPLITS, hold_out

log = logging.getLogger(__name__)

SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "dev": "val",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
}
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".bed", ".parquet")
MAX_AUTO_CLASSES = 50  # integer labels with more distinct values than this are treated as regression targets

TaskKind = Literal["binary", "multiclass", "regression"]


@dataclass
class DataConfig:
    """Where a labeled dataset is and how to read it (the ``data:`` section of a fine-tuning config)."""

    path: str = ""
    fasta: str | None = None  # FASTA path or bundled genome name: ``path`` is then an interval table
    sequence_column: str = "sequence"
    label_column: str = "label"
    split_column: str = "split"
    id_column: str | None = None  # row identifiers for predictions; default: "name" for intervals, else row number
    task: Literal["auto", "binary", "multiclass", "regression"] = "auto"
    classes: list[str] | None = None  # fixed class order (else sorted labels of the training split)
    flank: int = 0  # bases of genomic context added on each side of an interval
    resplit: str | None = None  # "train"|"val"|"test"|"all": re-deal these rows into train/val/test
    resplit_fractions: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    split_seed: int = 0

    def __post_init__(self) -> None:
        if self.flank < 0:
            raise ValueError(f"flank must be >= 0, got {self.flank}")
        if self.resplit is not None and self.resplit != "all" and self.resplit not in SPLIT_ALIASES:
            raise ValueError(f"resplit must be all|train|val|test, got {self.resplit!r}")
        fr = self.resplit_fractions
        if len(fr) != 3 or any(f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6 or fr[0] <= 0:
            raise ValueError(f"resplit_fractions (train, val, test) must be >= 0, sum to 1, train > 0: {fr}")


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


def _strip_suffixes(path: Path) -> str:
    name = path.name.lower()
    return name[:-3] if name.endswith(".gz") else name


def _table_suffix(path: Path) -> str:
    return Path(_strip_suffixes(path)).suffix


def _looks_like_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_table(path: Path, *, bed_columns: bool = False) -> pl.DataFrame:
    """Read CSV/TSV/BED/Parquet (optionally gzipped) as all-string columns; ``_line`` holds 1-based line numbers.

    With ``bed_columns``, a file whose first line has integer 2nd and 3rd fields is read as headerless BED.
    """
    if not path.is_file():
        raise GenomambaError("file not found", path)
    suffix = _table_suffix(path)
    if suffix == ".parquet":
        try:
            df = pl.read_parquet(path)
        except Exception as exc:  # polars raises several error types for corrupt files
            raise GenomambaError(f"cannot read Parquet ({exc})", path) from None
        df = df.with_columns(pl.all().cast(pl.Utf8))
        return df.with_columns((pl.int_range(pl.len()) + 2).alias("_line"))
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise GenomambaError(f"corrupt gzip ({exc})", path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GenomambaError(f"not UTF-8 text (byte {exc.start})", path) from None
    # keep 1-based line numbers through comment/track lines so errors point at the right line
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines())]
    lines = [(i, ln) for i, ln in lines if ln.strip() and not ln.startswith(("#", "track ", "browser "))]
    if not lines:
        raise GenomambaError("no rows", path)
    sep = "," if suffix == ".csv" else "\t"
    first = lines[0][1].split(sep)
    headerless = bed_columns and len(first) >= 3 and first[1].strip().isdigit() and first[2].strip().isdigit()
    if headerless:
        names = ["chrom", "start", "end", "name", "score", "strand"]
        names += [f"col{i + 1}" for i in range(len(names), len(first))]
        names = names[: len(first)]
        body = lines
    else:
        names = [c.strip() for c in first]
        body = lines[1:]
        if len(set(names)) != len(names):
            raise GenomambaError(f"duplicate column names in header: {names}", path, f"line {lines[0][0]}")
    if not body:
        raise GenomambaError("no data rows after the header", path)
    cols: list[list[str]] = [[] for _ in names]
    for lineno, ln in body:
        fields = ln.split(sep)
        if len(fields) != len(names):
            raise GenomambaError(f"expected {len(names)} fields, found {len(fields)}", path, f"line {lineno}")
        for c, v in zip(cols, fields):
            c.append(v.strip())
    data = {n: c for n, c in zip(names, cols)}
    data["_line"] = [lineno for lineno, _ in body]
    return pl.DataFrame(data, schema={**{n: pl.Utf8 for n in names}, "_line": pl.Int64})


def _require(df: pl.DataFrame, column: str, path: Path, what: str) -> None:
    if column not in df.columns:
        have = ", ".join(c for c in df.columns if c != "_line")
        raise GenomambaError(f"missing {what} column {column!r} (columns: {have})", path)


def _split_files(directory: Path) -> dict[str, Path]:
    """Map split name -> file for a directory of ``train``/``dev``/``test`` tables."""
    found: dict[str, Path] = {}
    for p in sorted(directory.iterdir()):
        stem = _strip_suffixes(p)
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


# ---------------------------------------------------------------------------------------------------- labels


def _infer_task(values: list[str]) -> TaskKind:
    if not all(_looks_like_number(v) for v in values):
        return "binary" if len(set(values)) == 2 else "multiclass"
    numbers = np.asarray([float(v) for v in values])
    distinct = np.unique(numbers)
    if np.all(distinct == np.round(distinct)) and distinct.size <= MAX_AUTO_CLASSES:
        return "binary" if distinct.size == 2 else "multiclass"
    return "regression"


def _canonical_label(value: str) -> str:
    """'1', '1.0' and ' 1' name the same class."""
    if _looks_like_number(value):
        number = float(value)
        if number == round(number):
            return str(int(number))
    return value


def _class_order(values: set[str]) -> list[str]:
    if all(_looks_like_number(v) for v in values):
        return sorted(values, key=float)
    return sorted(values)


# ------------------------------------------------------------------------------------------------------ main


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
    genome = open_genome(cfg.fasta) if cfg.fasta is not None else None
    id_column = cfg.id_column or ("name" if cfg.fasta is not None else None)

    rows_tokens: list[np.ndarray] = []
    rows_label: list[str] = []
    rows_split: list[str] = []
    rows_id: list[str] = []
    rows_where: list[tuple[Path, int]] = []
    for path, df in frames:
        if unlabeled:
            df = df.with_columns(pl.lit("").alias("_nolabel"))
        else:
            _require(df, cfg.label_column, path, "label")
        if genome is None:
            tokens = _sequences_from_table(path, df, cfg)
        else:
            tokens = _sequences_from_intervals(path, df, cfg, genome)
        lines = df["_line"].to_list()
        if id_column is not None and id_column in df.columns:
            ids = df[id_column].to_list()
        elif cfg.id_column is not None:
            _require(df, cfg.id_column, path, "id")
            ids = []
        else:
            ids = [f"{path.name}:{line}" for line in lines]
        label_values = [""] * df.height if unlabeled else df[cfg.label_column].to_list()
        for label, line in zip(label_values, lines):
            if label == "" and not unlabeled:
                raise GenomambaError(f"empty label in column {cfg.label_column!r}", path, f"line {line}")
        rows_tokens += tokens
        rows_label += label_values
        rows_split += df["_split"].to_list()
        rows_id += ids
        rows_where += [(path, line) for line in lines]

    split_arr = np.asarray(rows_split, dtype=object)
    if cfg.resplit is not None:
        split_arr = _resplit(split_arr, cfg)
    unassigned = np.flatnonzero(split_arr == "all")
    if unassigned.size:  # only possible without resplit; _load_frames guards this, kept as an invariant check
        raise GenomambaError("rows without a split", cfg.path)

    task = cfg.task
    classes: list[str]
    train_idx = np.flatnonzero(split_arr == "train")
    if task == "auto":
        basis = [rows_label[i] for i in (train_idx if train_idx.size else range(len(rows_label)))]
        task = _infer_task(basis)
    if unlabeled:
        classes = [] if task == "regression" else [_canonical_label(c) for c in cfg.classes]
        labels = (
            np.full(len(rows_label), np.nan, np.float32)
            if task == "regression"
            else np.full(len(rows_label), -1, np.int64)
        )
    elif task == "regression":
        classes = []
        labels = np.empty(len(rows_label), dtype=np.float32)
        for i, value in enumerate(rows_label):
            try:
                labels[i] = float(value)
            except ValueError:
                path, line = rows_where[i]
                raise GenomambaError(f"regression label {value!r} is not a number", path, f"line {line}") from None
            if not np.isfinite(labels[i]):
                path, line = rows_where[i]
                raise GenomambaError(f"regression label {value!r} is not finite", path, f"line {line}")
    else:
        canon = [_canonical_label(v) for v in rows_label]
        if cfg.classes is not None:
            classes = [_canonical_label(c) for c in cfg.classes]
            origin = "data.classes"
        else:
            basis_idx = train_idx if train_idx.size else np.arange(len(canon))
            classes = _class_order({canon[i] for i in basis_idx})
            origin = "the training split"
        index = {c: k for k, c in enumerate(classes)}
        labels = np.empty(len(canon), dtype=np.int64)
        for i, value in enumerate(canon):
            k = index.get(value)
            if k is None:
                path, line = rows_where[i]
                raise GenomambaError(
                    f"unknown label {rows_label[i]!r} (classes from {origin}: {', '.join(classes)})",
                    path,
                    f"line {line}",
                )
            labels[i] = k
        if task == "binary" and len(classes) != 2:
            raise GenomambaError(f"binary task needs exactly 2 classes, found {len(classes)}: {classes}", cfg.path)
        if len(classes) < 2:
            raise GenomambaError(f"classification needs at least 2 classes, found {classes}", cfg.path)

    splits = {}
    for name in SPLITS:
        idx = np.flatnonzero(split_arr == name)
        splits[name] = Split(
            name=name,
            ids=[rows_id[i] for i in idx],
            tokens=[rows_tokens[i] for i in idx],
            labels=labels[idx],
        )
    data = LabeledData(task=task, classes=classes, splits=splits, source=str(cfg.path))
    log.info("loaded %s: %s", cfg.path, {k: len(v) for k, v in splits.items()})
    return data


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
    "read_table",
    "open_genome",
    "fetch_interval",
    "describe_source",
]
