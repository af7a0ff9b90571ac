"""Sequences to embed, read lazily in input order: a sequence table, intervals on a FASTA, or a windows directory.

Every source knows its row count and each row's length before any sequence is read (per-token outputs are laid
out from them), and yields ``(tokens uint8 (L,), metadata)`` one row at a time, so only the rows of the batch in
flight are held as tokens. Metadata columns (``id`` first) go into the pooled output beside the embedding.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from genomamba.alphabet import encode
from genomamba.errors import GenomambaError


class SequenceTable:
    """CSV/TSV/Parquet (``.gz`` allowed) with a sequence column; ids from ``id_column`` or ``<file>:<line>``."""

    def __init__(self, path: str | Path, sequence_column: str = "sequence", id_column: str | None = None):
        from genomamba.finetune.datasets import read_table

        self.path = Path(path)
        self.table = read_table(self.path)
        for column in (sequence_column, id_column):
            if column is not None and column not in self.table.columns:
                have = ", ".join(c for c in self.table.columns if c != "_line")
                raise GenomambaError(f"missing column {column!r} (columns: {have})", self.path)
        self.sequences = self.table[sequence_column].to_list()
        self.lines = self.table["_line"].to_list()
        self.ids = self.table[id_column].to_list() if id_column else [f"{self.path.name}:{n}" for n in self.lines]
        self.column = sequence_column
        empty = [n for s, n in zip(self.sequences, self.lines) if not s]
        if empty:
            raise GenomambaError("empty sequence", self.path, f"line {empty[0]}")

    columns = ("id",)

    def __len__(self) -> int:
        return len(self.sequences)

    def lengths(self) -> np.ndarray:
        return np.fromiter((len(s) for s in self.sequences), dtype=np.int64, count=len(self))

    def __iter__(self) -> Iterator[tuple[np.ndarray, dict]]:
        for seq, line, rid in zip(self.sequences, self.lines, self.ids):
            try:
                tokens = encode(seq)
            except GenomambaError as exc:
                raise GenomambaError(f"{exc.problem} in column {self.column!r}", self.path, f"line {line}") from None
            yield tokens, {"id": rid}


class Intervals:
    """BED (or a table with chrom, start, end [, strand, name]) on a FASTA, 0-based half-open, ``flank`` bases of
    context each side (N past a chromosome end), reverse-complemented on ``-``. Ids: ``name`` or chrom:start-end."""

    columns = ("id", "chrom", "start", "end", "strand")

    def __init__(self, path: str | Path, genome, flank: int = 0):
        from genomamba.finetune.datasets import read_table

        self.path, self.genome, self.flank = Path(path), genome, flank
        table = read_table(self.path, bed_columns=True)
        for column in ("chrom", "start", "end"):
            if column not in table.columns:
                raise GenomambaError(f"missing interval column {column!r}", self.path)
        self.rows = []
        strands = table["strand"].to_list() if "strand" in table.columns else ["+"] * table.height
        names = table["name"].to_list() if "name" in table.columns else [None] * table.height
        cols = (table[c].to_list() for c in ("chrom", "start", "end", "_line"))
        for (chrom, start, end, line), strand, name in zip(zip(*cols), strands, names):
            self.rows.append(self._check(chrom, start, end, strand, name, f"line {line}"))

    def _check(self, chrom: str, start_s: str, end_s: str, strand: str, name, where: str) -> tuple:
        if not (start_s.isdigit() and end_s.isdigit()):
            problem = f"start/end must be non-negative integers, got {start_s!r}, {end_s!r}"
            raise GenomambaError(problem, self.path, where)
        start, end = int(start_s), int(end_s)
        try:
            contig = self.genome.resolve(chrom)
        except GenomambaError as exc:
            raise GenomambaError(exc.problem, self.path, where) from None
        if end <= start or end > self.genome.contigs[contig]:
            raise GenomambaError(
                f"interval {chrom}:{start}-{end} is empty or runs off {contig} "
                f"(length {self.genome.contigs[contig]:,})",
                self.path,
                where,
            )
        if strand not in ("+", "-", "."):
            raise GenomambaError(f"strand must be +, - or ., got {strand!r}", self.path, where)
        rid = name if name not in (None, "", ".") else f"{contig}:{start}-{end}"
        return rid, contig, start, end, "-" if strand == "-" else "+"

    def __len__(self) -> int:
        return len(self.rows)

    def lengths(self) -> np.ndarray:
        return np.asarray([end - start + 2 * self.flank for _, _, start, end, _ in self.rows], dtype=np.int64)

    def __iter__(self) -> Iterator[tuple[np.ndarray, dict]]:
        from genomamba.finetune.datasets import fetch_interval

        for rid, contig, start, end, strand in self.rows:
            tokens = fetch_interval(self.genome, contig, start, end, strand, self.flank)
            yield tokens, {"id": rid, "chrom": contig, "start": start, "end": end, "strand": strand}


class Windows:
    """The windows of a ``genomamba windows`` directory (optionally one split), read from its token memmap."""

    columns = ("id", "chrom", "start", "end", "split")

    def __init__(self, path: str | Path, split: str | None = None):
        from genomamba.genome.windows import WindowsDir

        self.wd = WindowsDir(path)
        table = self.wd.windows if split is None else self.wd.split(split)
        if table.height == 0:
            raise GenomambaError(f"no windows{'' if split is None else f' in split {split!r}'}", path)
        self.table = table

    def __len__(self) -> int:
        return self.table.height

    def lengths(self) -> np.ndarray:
        return (self.table["end"] - self.table["start"]).to_numpy().astype(np.int64)

    def __iter__(self) -> Iterator[tuple[np.ndarray, dict]]:
        for row in self.table.iter_rows(named=True):
            lo = row["offset"]
            tokens = np.asarray(self.wd.tokens[lo : lo + row["end"] - row["start"]])
            meta = {k: row[k] for k in ("chrom", "start", "end", "split")}
            yield tokens, {"id": f"{row['chrom']}:{row['start']}-{row['end']}", **meta}
