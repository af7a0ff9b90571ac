"""FASTA -> tokens of the whole genome + a manifest of fixed-size windows with train/val/test splits.

``build_windows(fasta, out, config)`` writes the windows directory (all of it, atomically):

    tokens.u8        uint8 token ids of every sequence, concatenated in FASTA order (np.memmap-able)
    softmask.u8      uint8 0/1 per base (1 = lowercase in the FASTA), same layout
    contigs.parquet  name, offset (into tokens.u8), length, md5 (of the uppercase sequence)
    windows.parquet  chrom, start, end (0-based half-open), offset (of start in tokens.u8), split,
                     n_frac, gc_frac (G+C among non-N bases), softmask_frac
    qc.json          parameters, genome, kept/dropped window counts per reason and chromosome, checksums
    tokenizer.json   the NucleotideTokenizer

Windows: each split segment of a chromosome (the whole chromosome, or a run of same-split blocks) is tiled
from its start with ``window_size``/``stride``; the first window that would run past the segment's end becomes
the tail ``[start, segment end)``, kept only if at least ``min_tail`` long; windows with more than
``max_n_frac`` N are dropped. Windows never straddle a split boundary. ``WindowsDir(path)`` loads and
validates the result.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from genomamba import __version__
from genomamba.alphabet import NucleotideTokenizer
from genomamba.atomic import atomic_dir, check_output_dir, file_digest
from genomamba.config import all_finite, to_dict
from genomamba.errors import GenomambaError
from genomamba.genome.fasta import Genome
from genomamba.genome.splits import SPLITS, Segment, plan_segments
from genomamba.genome.window_stats import IntervalCounter, add_kept_windows, chrom_stats, dropped_totals, qc_numbers

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
QC_FILE = "qc.json"  # written last into every windows directory: marks a previous output
WINDOW_COLUMNS = ("chrom", "start", "end", "offset", "split", "n_frac", "gc_frac", "softmask_frac")
CONTIG_COLUMNS = ("name", "offset", "length", "md5")
_INT = ("start", "end", "offset")


@dataclass
class WindowsConfig:
    """Parameters of ``genomamba windows``; the single source of their defaults."""

    window_size: int = 1 << 20  # bp per window (2^20 = 1,048,576)
    stride: int | None = None  # bp between window starts; None: window_size (no overlap)
    min_tail: int | None = None  # keep a segment's last, shorter window if >= this; None: window_size // 16
    max_n_frac: float = 0.5  # drop windows whose fraction of N is above this
    split_by: Literal["block", "chromosome"] = "block"
    block_size: int | None = None  # split_by=block: bp per block; None: window_size
    val_frac: float = 0.1  # target fraction of bases held out for validation (ignored with explicit chroms)
    test_frac: float = 0.1
    val_chroms: list[str] = field(default_factory=list)  # split_by=chromosome: explicit held-out sequences
    test_chroms: list[str] = field(default_factory=list)
    seed: int = 0  # seeds which blocks/chromosomes are held out
    chunk_bases: int = 1 << 24  # bases read and tokenized at a time (bounds memory)

    def __post_init__(self) -> None:
        for name in ("window_size", "stride", "block_size", "chunk_bases"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be a positive number of bases, got {value}")
        if self.min_tail is not None and self.min_tail < 0:
            raise ValueError(f"min_tail must be >= 0 bases (0 keeps every tail), got {self.min_tail}")
        for name in ("max_n_frac", "val_frac", "test_frac"):
            value = getattr(self, name)
            if not (all_finite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be a fraction in [0, 1], got {value}")
        if self.val_frac + self.test_frac >= 1:
            raise ValueError(f"val_frac and test_frac must sum to < 1, got {self.val_frac} and {self.test_frac}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.split_by not in ("block", "chromosome"):
            raise ValueError(f"split_by must be block or chromosome, got {self.split_by!r}")
        if (self.val_chroms or self.test_chroms) and self.split_by != "chromosome":
            raise ValueError("val_chroms/test_chroms need split_by=chromosome")
        if not all(isinstance(c, str) and c for c in (*self.val_chroms, *self.test_chroms)):
            raise ValueError("val_chroms/test_chroms must be non-empty sequence names")

    @property
    def stride_bp(self) -> int:
        return self.stride or self.window_size

    @property
    def min_tail_bp(self) -> int:
        return self.min_tail if self.min_tail is not None else max(1, self.window_size // 16)

    @property
    def block_bp(self) -> int:
        return self.block_size or self.window_size

    def resolved(self) -> dict:
        """Parameters with every ``None`` default replaced by the value used (for qc.json)."""
        out = to_dict(self)
        out.update(stride=self.stride_bp, min_tail=self.min_tail_bp, block_size=self.block_bp)
        return out


def tile(seg: Segment, size: int, stride: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Window starts/ends (int64) tiling ``seg``; the flag says whether the last one is a (shorter) tail."""
    length = seg.end - seg.start
    n_full = (length - size) // stride + 1 if length >= size else 0
    starts = seg.start + np.arange(n_full, dtype=np.int64) * stride
    ends = starts + size
    tail_start = seg.start + n_full * stride
    if tail_start < seg.end:
        return np.append(starts, tail_start), np.append(ends, seg.end), True
    return starts, ends, False


# ------------------------------------------------------------------------------------------------ writing
def build_windows(
    fasta: str | os.PathLike,
    out: str | os.PathLike,
    cfg: WindowsConfig | None = None,
    genome_name: str | None = None,
) -> dict:
    """Write the windows directory ``out`` for ``fasta`` (see the module docstring). Returns the QC report."""
    out = check_output_dir(out, QC_FILE)
    with Genome(fasta) as genome:
        return _build(genome, out, cfg or WindowsConfig(), genome_name)


def _build(genome: Genome, out: Path, cfg: WindowsConfig, genome_name: str | None) -> dict:
    import polars as pl

    longest = max(genome.contigs.items(), key=lambda kv: kv[1])
    if cfg.window_size > longest[1]:
        raise GenomambaError(
            f"window size {cfg.window_size:,} bp is larger than every sequence (longest: {longest[0]}, "
            f"{longest[1]:,} bp)",
            genome.path,
        )
    segments, warnings = plan_segments(genome, cfg)
    with atomic_dir(out, QC_FILE) as tmp:
        columns, contig_rows, per_chrom, checksums = _write_tokens(genome, tmp, cfg, segments)
        empty = {k: np.empty(0, np.int64 if k in _INT else float) for k in columns}
        windows = pl.DataFrame(
            {k: v if k in ("chrom", "split") else np.concatenate([empty[k], *v]) for k, v in columns.items()},
            schema=_window_schema(),
        )
        if windows.height == 0:
            raise GenomambaError(
                f"no windows kept (dropped: {dropped_totals(per_chrom)}); lower --min-tail or --window-size, "
                "or raise --max-n-frac",
                genome.path,
            )
        pl.DataFrame(contig_rows, schema=_contig_schema(), orient="row").write_parquet(tmp / "contigs.parquet")
        windows.write_parquet(tmp / "windows.parquet")
        NucleotideTokenizer().save(tmp / "tokenizer.json")
        for split in SPLITS:
            if split not in windows["split"].to_list() and not any(w.startswith(split) for w in warnings):
                warnings.append(f"{split} split has no windows after the tail and N policies")
        qc = {"format_version": FORMAT_VERSION, "genomamba_version": __version__}
        qc.update(qc_numbers(genome, genome_name, cfg, segments, per_chrom, windows, warnings, SPLITS))
        qc["checksums"] = checksums
        (tmp / QC_FILE).write_text(json.dumps(qc, indent=2) + "\n")
    for message in warnings:
        log.warning("%s", message)
    return qc


def _write_tokens(genome: Genome, tmp: Path, cfg: WindowsConfig, segments: list[Segment]):
    """Stream every sequence into tokens.u8/softmask.u8 (``chunk_bases`` at a time), counting what the window
    statistics need on the way. Returns (window columns, contig rows, per-chromosome QC, file md5 sums)."""
    segments_of: dict[str, list[Segment]] = {}
    for seg in segments:
        segments_of.setdefault(seg.chrom, []).append(seg)
    columns: dict[str, list] = {name: [] for name in WINDOW_COLUMNS}
    contig_rows, per_chrom, offset = [], {}, 0
    tok_md5, sm_md5 = hashlib.md5(), hashlib.md5()
    with open(tmp / "tokens.u8", "wb") as tok_fh, open(tmp / "softmask.u8", "wb") as sm_fh:
        for name, length in genome.contigs.items():
            tiles = [(seg, *tile(seg, cfg.window_size, cfg.stride_bp)) for seg in segments_of.get(name, [])]
            no_window = np.empty(0, np.int64)
            bins = IntervalCounter(
                length,
                cfg.chunk_bases,
                np.concatenate([no_window, *(t[1] for t in tiles)]),
                np.concatenate([no_window, *(t[2] for t in tiles)]),
            )
            seq_md5 = hashlib.md5()
            for start, bases in genome.iter_chunks(name, cfg.chunk_bases):
                tokens, softmask = genome.encode_bases(name, bases, start)
                np.bitwise_and(bases, 0xDF, out=bases)  # all bytes are letters now: this uppercases them
                seq_md5.update(bases)
                tok_fh.write(tokens)
                sm_fh.write(softmask)
                tok_md5.update(tokens)
                sm_md5.update(softmask)
                bins.add(start, tokens, softmask)
            contig_rows.append((name, offset, length, seq_md5.hexdigest()))
            per_chrom[name] = chrom_stats(length, SPLITS)
            add_kept_windows(columns, name, offset, tiles, bins, cfg, per_chrom[name])
            offset += length
    checksums = {"tokens.u8": tok_md5.hexdigest(), "softmask.u8": sm_md5.hexdigest()}
    return columns, contig_rows, per_chrom, checksums


def _window_schema() -> dict:
    import polars as pl

    return {
        "chrom": pl.String, "start": pl.Int64, "end": pl.Int64, "offset": pl.Int64, "split": pl.String,
        "n_frac": pl.Float64, "gc_frac": pl.Float64, "softmask_frac": pl.Float64,
    }  # fmt: skip


def _contig_schema() -> dict:
    import polars as pl

    return {"name": pl.String, "offset": pl.Int64, "length": pl.Int64, "md5": pl.String}


# ------------------------------------------------------------------------------------------------ reading
class WindowsDir:
    """A validated windows directory.

    ``tokens``/``softmask``: read-only uint8 memmaps (total_length,); ``contigs``/``windows``: polars
    DataFrames; ``qc``: the QC report; ``tokenizer``. ``verify=True`` also checks the files' md5 checksums.
    """

    FILES = ("tokens.u8", "softmask.u8", "contigs.parquet", "windows.parquet", QC_FILE, "tokenizer.json")

    def __init__(self, path: str | os.PathLike, verify: bool = False):
        import polars as pl

        self.path = Path(path)
        if not self.path.is_dir():
            raise GenomambaError("windows directory not found", self.path)
        for name in self.FILES:
            if not (self.path / name).is_file():
                raise GenomambaError(f"missing {name} (not a complete windows directory)", self.path)
        self.tokenizer = NucleotideTokenizer.load(self.path / "tokenizer.json")
        try:
            self.qc = json.loads((self.path / QC_FILE).read_text())
        except json.JSONDecodeError as exc:
            raise GenomambaError(f"not valid JSON ({exc})", self.path / QC_FILE) from None
        self.contigs = self._read_table(pl, "contigs.parquet", _contig_schema())
        self.windows = self._read_table(pl, "windows.parquet", _window_schema())
        self._check_contigs()
        self.tokens = np.memmap(self.path / "tokens.u8", dtype=np.uint8, mode="r")
        self.softmask = np.memmap(self.path / "softmask.u8", dtype=np.uint8, mode="r")
        self._check_windows(pl)
        if verify:
            self.verify_checksums()

    def _read_table(self, pl, name: str, schema: dict):
        try:
            table = pl.read_parquet(self.path / name)
        except Exception as exc:
            raise GenomambaError(f"cannot read Parquet ({type(exc).__name__}: {exc})", self.path / name) from None
        for column, dtype in schema.items():
            if column not in table.columns:
                raise GenomambaError(f"missing column {column!r}", self.path / name)
            if table[column].dtype != dtype:
                raise GenomambaError(f"column {column!r} is {table[column].dtype}, expected {dtype}", self.path / name)
        return table

    def _check_contigs(self) -> None:
        lengths = self.contigs["length"].to_numpy()
        expected = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        if (lengths < 0).any() or not np.array_equal(self.contigs["offset"].to_numpy(), expected):
            raise GenomambaError("contig offsets are not the running sum of lengths", self.path / "contigs.parquet")
        if self.contigs["name"].n_unique() != self.contigs.height:
            raise GenomambaError("duplicate contig names", self.path / "contigs.parquet")
        total = int(lengths.sum())
        for name in ("tokens.u8", "softmask.u8"):
            size = (self.path / name).stat().st_size
            if size != total:
                raise GenomambaError(
                    f"has {size:,} bytes but contigs.parquet describes {total:,} bases", self.path / name
                )

    def _check_windows(self, pl) -> None:
        where = self.path / "windows.parquet"
        joined = self.windows.join(
            self.contigs.select(pl.col("name").alias("chrom"), pl.col("offset").alias("c_off"), "length"),
            on="chrom",
            how="left",
        )
        unknown = joined.filter(pl.col("length").is_null())
        if unknown.height:
            raise GenomambaError("window on a sequence missing from contigs.parquet", where, unknown["chrom"][0])
        bad = joined.filter(
            (pl.col("start") < 0)
            | (pl.col("end") <= pl.col("start"))
            | (pl.col("end") > pl.col("length"))
            | (pl.col("offset") != pl.col("c_off") + pl.col("start"))
            | ~pl.col("split").is_in(list(SPLITS))
        )
        if bad.height:
            row = bad.row(0, named=True)
            raise GenomambaError(
                f"window {row['chrom']}:{row['start']}-{row['end']} (offset {row['offset']}, split "
                f"{row['split']!r}) disagrees with contigs.parquet/tokens",
                where,
            )
        if self.tokens.size and int(self.tokens.max()) >= self.tokenizer.vocab_size:
            raise GenomambaError("holds values that are not token ids", self.path / "tokens.u8")

    def verify_checksums(self) -> None:
        """Compare tokens.u8/softmask.u8 with the md5 sums in qc.json; raise on a mismatch."""
        sums = self.qc.get("checksums", {})
        for name in ("tokens.u8", "softmask.u8"):
            if name not in sums:
                raise GenomambaError(f"{QC_FILE} has no checksum for {name}", self.path / QC_FILE)
            if file_digest(self.path / name, "md5") != sums[name]:
                raise GenomambaError("md5 does not match qc.json (file changed or corrupt)", self.path / name)

    def split(self, name: str):
        """Windows of one split (``train``, ``val`` or ``test``) as a polars DataFrame."""
        if name not in SPLITS:
            raise GenomambaError(f"unknown split {name!r} (expected one of {', '.join(SPLITS)})", self.path)
        return self.windows.filter(self.windows["split"] == name)

    def window(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(tokens, softmask)`` memmap views (L,) of row ``index`` of ``windows``."""
        row = self.windows.row(index, named=True)
        lo, hi = row["offset"], row["offset"] + row["end"] - row["start"]
        return self.tokens[lo:hi], self.softmask[lo:hi]

    def __len__(self) -> int:
        return self.windows.height

    def __repr__(self) -> str:
        counts = {s: self.split(s).height for s in SPLITS}
        return f"WindowsDir({str(self.path)!r}, {self.tokens.size:,} bases, windows {counts})"
