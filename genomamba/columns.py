"""Typed columns of the tables users hand us (scores, predictions, labels): a value that does not parse is a
one-line error naming the file, the column and the row, never a library's multi-line cast error."""

from __future__ import annotations

import os


def numeric_column(df, column: str, path: str | os.PathLike, integer: bool = False):
    """``df[column]`` (a polars frame) cast to Float64 (Int64 with ``integer``); empty cells and "NA" stay null.
    Raises ``GenomambaError`` at the first non-empty value that is not a number (rows counted from 1)."""
    import polars as pl

    from genomamba.errors import GenomambaError

    series = df[column]
    cast = series.cast(pl.Int64 if integer else pl.Float64, strict=False)
    broken = cast.is_null() & series.is_not_null()
    if series.dtype == pl.Utf8:
        broken = broken & ~series.str.strip_chars().is_in(["", "NA", "NaN", "nan"])
    if broken.any():
        row = int(broken.arg_true()[0])
        kind = "an integer" if integer else "a number"
        raise GenomambaError(f"column {column!r}: {series[row]!r} is not {kind}", path, f"row {row + 1}")
    return cast
