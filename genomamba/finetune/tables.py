"""Tables in and out of the fine-tuning stage, chosen by file extension.

Reading (``read_table``): CSV, TSV, BED or Parquet, optionally gzipped, as all-string columns with the 1-based line
number of every row, so any later check can point at the line. Writing (``write_table``): Parquet for ``.parquet``,
TSV for ``.tsv``, gzipped TSV for ``.tsv.gz``; ``table_format`` refuses any other name before work starts.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Literal

import polars as pl

from genomamba.atomic import atomic_file
from genomamba.errors import GenomambaError

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".bed", ".parquet")
WRITE_FORMATS = {".parquet": "parquet", ".tsv": "tsv", ".tsv.gz": "tsv.gz"}

TableFormat = Literal["parquet", "tsv", "tsv.gz"]


def strip_gz(path: Path) -> str:
    """Lower-case file name without a trailing ``.gz``."""
    name = path.name.lower()
    return name[:-3] if name.endswith(".gz") else name


def _table_suffix(path: Path) -> str:
    return Path(strip_gz(path)).suffix


def table_format(path: str | os.PathLike) -> TableFormat:
    """The output format named by ``path``'s extension; any other extension is a ``GenomambaError``."""
    name = Path(path).name.lower()
    for suffix, fmt in sorted(WRITE_FORMATS.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return fmt
    raise GenomambaError(f"unknown table extension (use {', '.join(WRITE_FORMATS)})", path)


def write_table(table: pl.DataFrame, path: str | os.PathLike) -> None:
    """Write ``table`` atomically in the format of ``path``'s extension (see ``table_format``)."""
    fmt = table_format(path)
    with atomic_file(Path(path)) as tmp:
        if fmt == "parquet":
            table.write_parquet(tmp)
        elif fmt == "tsv.gz":
            with gzip.open(tmp, "wb") as fh:
                table.write_csv(fh, separator="\t")
        else:
            table.write_csv(tmp, separator="\t")


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        df = pl.read_parquet(path)
    except Exception as exc:  # polars raises several error types for corrupt files
        raise GenomambaError(f"cannot read Parquet ({exc})", path) from None
    df = df.with_columns(pl.all().cast(pl.Utf8))
    return df.with_columns((pl.int_range(pl.len()) + 2).alias("_line"))


def _text_lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, line) of the data and header lines, without comment/track/browser lines."""
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
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines())]
    lines = [(i, ln) for i, ln in lines if ln.strip() and not ln.startswith(("#", "track ", "browser "))]
    if not lines:
        raise GenomambaError("no rows", path)
    return lines


def read_table(path: Path, *, bed_columns: bool = False) -> pl.DataFrame:
    """Read CSV/TSV/BED/Parquet (optionally gzipped) as all-string columns; ``_line`` holds 1-based line numbers.

    With ``bed_columns``, a file whose first line has integer 2nd and 3rd fields is read as headerless BED.
    """
    if not path.is_file():
        raise GenomambaError("file not found", path)
    suffix = _table_suffix(path)
    if suffix == ".parquet":
        return _read_parquet(path)
    lines = _text_lines(path)
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
