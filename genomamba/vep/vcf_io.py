"""VCF/BCF input for variant scoring, through pysam (htslib); never a hand-written parser.

``prepare_input`` makes one streaming pass over the input before any scoring. It

* validates every record, so a malformed line fails at once with a ``GenomambaError`` naming its line (text VCF)
  or record number (BCF), before minutes of model time are spent;
* counts the records (exact progress and ETA later);
* completes the header: htslib adds a placeholder definition for every INFO/FORMAT/FILTER/contig a record uses
  but the header does not declare, and a BCF/VCF writer needs every one of them declared before the first
  record. When anything was missing (or the file is plain gzip rather than BGZF, which htslib cannot read), a
  header-completed copy is streamed into a temporary directory and read instead. The original is never changed;
  the missing definitions are reported.

Memory stays bounded: records are streamed, never collected.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from genomamba.errors import GenomambaError

log = logging.getLogger(__name__)

_GZIP_MAGIC = b"\x1f\x8b"
# INFO/END is added to the in-memory header by htslib when it writes a symbolic allele; declaring it up front
# keeps the output header complete (VCF 4.2 reserved key, same definition as the specification)
END_DEFINITION = ("END", 1, "Integer", "End position of the variant described in this record")


@dataclass
class VcfInput:
    """The input as it will be read for scoring (maybe a header-completed temporary copy)."""

    source: Path  # what the user gave
    path: Path  # what pysam reads (== source unless a copy was needed)
    n_records: int
    n_header_lines: int
    fmt: str  # "VCF" | "BCF"
    compression: str  # "NONE" | "BGZF" | "GZIP"
    added_definitions: list[str] = field(default_factory=list)  # header lines the input was missing
    index_ready: bool = True  # each contig in one block, positions non-decreasing (an index can be built)

    def line_of(self, index: int) -> str:
        """Human-readable location of record ``index`` (0-based) in the user's file."""
        if self.fmt == "VCF":
            return f"line {self.n_header_lines + index + 1}"
        return f"record {index + 1}"


def _is_plain_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(18)
    if not head.startswith(_GZIP_MAGIC):
        return False
    return not (len(head) >= 18 and head[3] & 4 and head[12:14] == b"BC")


def _read_text_line(path: Path, compression: str, lineno: int) -> str | None:
    """Line ``lineno`` (1-based) of a text VCF, for error messages; None if it cannot be read."""
    try:
        opener = gzip.open if compression in ("BGZF", "GZIP") else open
        with opener(path, "rt", errors="replace") as fh:
            for i, line in enumerate(fh, 1):
                if i == lineno:
                    return line.rstrip("\n")
    except (OSError, EOFError):
        return None
    return None


def _text_open(path: Path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rt", errors="replace") if gz else open(path, errors="replace")


def _first_line(path: Path) -> str | None:
    """First line of a text VCF (plain or gzip/BGZF); None for BCF or unreadable input."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(18)
        if head.startswith(_GZIP_MAGIC):
            with gzip.open(path, "rb") as fh:
                if fh.read(3) == b"BCF":
                    return None
        with _text_open(path) as fh:
            return fh.readline().rstrip("\n")
    except (OSError, EOFError):
        return None


def _open(path: Path, source: Path):
    import pysam

    try:
        return pysam.VariantFile(str(path), "r")
    except (OSError, ValueError) as exc:
        raise GenomambaError(f"not a readable VCF/BCF ({exc})", source) from None


def _header_definitions(header) -> set[str]:
    """Keys of every definition in a pysam header: INFO/x, FORMAT/x, FILTER/x, contig/x."""
    out = {f"INFO/{k}" for k in header.info}
    out |= {f"FORMAT/{k}" for k in header.formats}
    out |= {f"FILTER/{k}" for k in header.filters}
    out |= {f"contig/{k}" for k in header.contigs}
    return out


def _count_header_lines(path: Path, compression: str) -> int:
    opener = gzip.open if compression in ("BGZF", "GZIP") else open
    n = 0
    with opener(path, "rt", errors="replace") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            n += 1
    return n


def prepare_input(source: str | os.PathLike, workdir: str | os.PathLike) -> VcfInput:
    """Validate, count and (if needed) header-complete the VCF/BCF at ``source``; see the module docstring.

    ``workdir`` is a scratch directory for a header-completed copy (deleted by the caller).
    """
    source = Path(source)
    readable, compression, fileformat_added = _readable(source, Path(workdir))
    vin = _open(readable, source)
    fmt = vin.format  # "VCF" | "BCF"
    read_compression = "BGZF" if vin.compression == "BGZF" else "NONE"  # of ``readable`` (a copy is plain)
    if fmt not in ("VCF", "BCF"):
        vin.close()
        raise GenomambaError(f"not a VCF/BCF file (htslib sees {fmt})", source)
    before = _header_definitions(vin.header)
    n_header = _count_header_lines(readable, read_compression) if fmt == "VCF" else 0
    n_header -= int(fileformat_added)  # line numbers refer to the user's file
    try:
        n, saw_symbolic, index_ready = _scan_records(vin, readable, source, n_header, fileformat_added)
        header = vin.header.copy()
    finally:
        vin.close()
    added = sorted(_header_definitions(header) - before) + (["fileformat"] if fileformat_added else [])
    if added and added != ["fileformat"]:
        shown = ", ".join(added[:10]) + (" ..." if len(added) > 10 else "")
        what = "definition(s) missing from the header, declared in the output as placeholders"
        log.warning("%s: %d %s: %s", source, len(added), what, shown)
    needs_end = saw_symbolic and "END" not in header.info
    if needs_end:
        header.info.add(*END_DEFINITION)
    path = readable
    # BCF declares every definition it uses (htslib refuses to write it otherwise), so only text VCF is copied
    if (added or needs_end) and fmt == "VCF":
        path = Path(workdir) / "input.header_completed.vcf"
        _write_completed_copy(readable, read_compression, header, path, source)
    return VcfInput(
        source=source,
        path=path,
        n_records=n,
        n_header_lines=n_header,
        fmt=fmt,
        compression=compression or read_compression,
        added_definitions=added,
        index_ready=index_ready,
    )


def _readable(source: Path, workdir: Path) -> tuple[Path, str | None, bool]:
    """(path htslib can read, "GZIP" for plain-gzip input else None, whether a ##fileformat line was added).

    htslib needs BGZF for compressed VCF and a ##fileformat line; input lacking either is streamed into a scratch
    copy in ``workdir`` that has it.
    """
    if not source.exists():
        raise GenomambaError("file not found", source)
    if source.is_dir():
        raise GenomambaError("is a directory, not a VCF/BCF file", source)
    if source.stat().st_size == 0:
        raise GenomambaError("empty file (not even a VCF header)", source)
    compression = "GZIP" if _is_plain_gzip(source) else None
    readable = source
    if compression == "GZIP":
        readable = workdir / "input.vcf"
        try:
            with gzip.open(source, "rb") as fin, open(readable, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
        except (OSError, EOFError) as exc:
            raise GenomambaError(f"cannot decompress gzip input ({exc})", source) from None
        log.info("%s is plain gzip, not BGZF: reading a decompressed scratch copy", source)
    first = _first_line(readable)
    if first is None or first.startswith("##fileformat="):
        return readable, compression, False
    if not first.startswith("#CHROM"):
        raise GenomambaError(
            f"no VCF header: the first line must be '##fileformat=VCFv4.x' or '#CHROM ...', got {first[:60]!r}",
            source,
            "line 1",
        )
    fixed = workdir / "input.fileformat.vcf"
    with _text_open(readable) as fin, open(fixed, "w") as fout:
        fout.write("##fileformat=VCFv4.2\n")
        shutil.copyfileobj(fin, fout, 1 << 20)
    log.warning("%s has no ##fileformat line; reading it as VCFv4.2", source)
    return fixed, compression, True


def _scan_records(vin, readable: Path, source: Path, n_header: int, line_added: bool) -> tuple[int, bool, bool]:
    """Parse every record of ``vin`` (opened on ``readable``) -> (records, any symbolic ALT, index-ready order).

    A malformed record raises a ``GenomambaError`` naming its line in the user's file (``n_header`` header lines;
    ``line_added``: the readable copy has one more, a ##fileformat line) or its record number (BCF).
    """
    import pysam

    n = 0
    saw_symbolic = False
    index_ready = True
    seen_contigs: set[str] = set()
    last = (None, -1)
    prev_verbosity = pysam.set_verbosity(0)  # htslib's own warnings about undeclared tags: reported by the caller
    try:
        for rec in vin:
            # touching the fields makes htslib parse (and declare) everything the record uses
            rec.info.keys()
            rec.filter.keys()
            rec.format.keys()
            saw_symbolic = saw_symbolic or any(a.startswith("<") for a in (rec.alts or ()))
            if rec.chrom != last[0]:
                index_ready = index_ready and rec.chrom not in seen_contigs
                seen_contigs.add(rec.chrom)
            elif rec.start < last[1]:
                index_ready = False
            last = (rec.chrom, rec.start)
            n += 1
    except (OSError, ValueError) as exc:
        text_vcf = vin.format == "VCF"
        where = f"line {n_header + n + 1}" if text_vcf else f"record {n + 1}"
        compression = "BGZF" if vin.compression == "BGZF" else "NONE"
        lineno = n_header + n + 1 + int(line_added)  # in ``readable``
        text = _read_text_line(readable, compression, lineno) if text_vcf else None
        shown = f": {text[:120]!r}" if text is not None else ""
        raise GenomambaError(f"malformed VCF record ({exc}){shown}", source, where) from None
    finally:
        pysam.set_verbosity(prev_verbosity)
    return n, saw_symbolic, index_ready


def _write_completed_copy(readable: Path, compression: str, header, out: Path, source: Path) -> None:
    """Stream ``readable``'s body under ``header`` (complete) into ``out`` (plain text VCF)."""
    opener = gzip.open if compression in ("BGZF", "GZIP") else open
    try:
        with opener(readable, "rt", errors="strict") as fin, open(out, "w") as fout:
            fout.write(str(header))
            for line in fin:
                if not line.startswith("#"):
                    fout.write(line)
                    break
            shutil.copyfileobj(fin, fout, 1 << 20)
    except (OSError, UnicodeDecodeError) as exc:
        raise GenomambaError(f"cannot copy the VCF body ({exc})", source) from None


def iter_records(vin: VcfInput, regions: list[tuple[str, int, int]] | None = None):
    """Yield ``(index, pysam.VariantRecord)`` in file order; with ``regions`` (VCF names, 0-based half-open,
    merged) only the records overlapping them, through the index when there is one, else by streaming."""
    import pysam

    prev = pysam.set_verbosity(0)  # "could not retrieve index" noise for un-indexed inputs
    handle = _open(vin.path, vin.source)
    pysam.set_verbosity(prev)
    try:
        if regions is None:
            for i, rec in enumerate(handle):
                yield i, rec
            return
        indexed = handle.index is not None if hasattr(handle, "index") else False
        if indexed:
            i = 0
            for chrom, start, end in regions:
                if chrom not in handle.header.contigs:
                    continue
                for rec in handle.fetch(chrom, start, end):
                    yield i, rec
                    i += 1
            return
        log.info("%s has no index: --regions are applied while streaming the whole file", vin.source)
        by_chrom: dict[str, list[tuple[int, int]]] = {}
        for chrom, start, end in regions:
            by_chrom.setdefault(chrom, []).append((start, end))
        for i, rec in enumerate(handle):
            spans = by_chrom.get(rec.chrom)
            if spans and any(rec.start < e and rec.stop > s for s, e in spans):
                yield i, rec
    finally:
        handle.close()


def parse_regions(text: str) -> list[tuple[str, int, int]]:
    """``chr1:100-200,chr2`` (1-based inclusive, VCF names) or a BED file path -> merged 0-based half-open."""
    out: list[tuple[str, int, int]] = []
    path = Path(text)
    if path.is_file():
        with open(path) as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip() or line.startswith(("#", "track", "browser")):
                    continue
                parts = line.rstrip("\n").split("\t")
                try:
                    chrom, start, end = parts[0], int(parts[1]), int(parts[2])
                except (IndexError, ValueError):
                    raise GenomambaError(
                        "malformed BED line (need chrom, start, end)", path, f"line {lineno}"
                    ) from None
                if not 0 <= start < end:
                    raise GenomambaError(f"empty or negative interval {start}-{end}", path, f"line {lineno}")
                out.append((chrom, start, end))
    else:
        for item in filter(None, (x.strip() for x in text.split(","))):
            chrom, _, span = item.rpartition(":") if ":" in item else (item, "", "")
            if not span:
                out.append((item, 0, 1 << 62))
                continue
            try:
                a, _, b = span.replace(",", "").partition("-")
                start, end = int(a) - 1, (int(b) if b else 1 << 62)
            except ValueError:
                raise GenomambaError(f"bad region {item!r} (expected chrom, chrom:start-end, or a BED file)") from None
            if not 0 <= start < end:
                raise GenomambaError(f"bad region {item!r}: start must be >= 1 and <= end")
            out.append((chrom, start, end))
    if not out:
        raise GenomambaError(f"no regions in {text!r}")
    out.sort()
    merged: list[tuple[str, int, int]] = []
    for chrom, start, end in out:
        if merged and merged[-1][0] == chrom and start <= merged[-1][2]:
            merged[-1] = (chrom, merged[-1][1], max(end, merged[-1][2]))
        else:
            merged.append((chrom, start, end))
    return merged
