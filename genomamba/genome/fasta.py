"""Indexed FASTA access: plain or BGZF-compressed, random access through a samtools ``.fai`` (+ ``.gzi``).

``Genome(path)`` builds the index when it is missing or older than the FASTA. The index goes beside the
FASTA when that directory is writable and not part of an installed package; otherwise into a per-file cache
directory (``$GENOMAMBA_CACHE_DIR`` or ``$XDG_CACHE_HOME/genomamba``, default ``~/.cache/genomamba``), so
read-only reference directories and site-packages are never written to. Indexes are built under a temporary
name and renamed into place, so an interrupted build never leaves an index a later run would trust. Inputs that
cannot be read in place (plain gzip FASTA, GenBank/EMBL) are read through a BGZF copy in the cache
(``genome.inputs``).

Coordinates are 0-based, half-open. Case is kept: ``fetch`` returns the original letters, ``fetch_tokens``
returns the tokens plus a per-base soft-mask (1 where the FASTA has a lowercase, usually repeat-masked, base).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import sys
import sysconfig
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genomamba.alphabet import _ENCODE, INVALID, encode_with_softmask, reverse_complement
from genomamba.atomic import atomic_file, can_create_dir, is_writable_dir
from genomamba.errors import GenomambaError
from genomamba.genome import bgzf
from genomamba.genome.inputs import CACHE_ENV, CONVERTED, cache_dir, converted_copy, sniff

# chromosome-name prefixes tried when resolving an alias (chr1 <-> 1 <-> Chr1), and the mitochondrion's names
_CHROM_PREFIXES = ("", "chr", "Chr", "CHR")
_MITO_NAMES = ("M", "MT")
# what a compressed FASTA that pyfaidx cannot inflate raises (Bio.bgzf: RuntimeError on a CRC mismatch)
_INFLATE_ERRORS = (zlib.error, struct.error, EOFError, RuntimeError)


def _package_roots() -> list[Path]:
    """Directories holding installed packages (their data files are never written to)."""
    roots = {Path(__file__).resolve().parents[1] / "resources"}
    for key in ("purelib", "platlib"):
        try:
            roots.add(Path(sysconfig.get_paths()[key]).resolve())
        except (KeyError, OSError):
            pass
    roots.update(Path(p).resolve() for p in sys.path if p.endswith("site-packages"))
    return sorted(roots)


def _is_package_data(path: Path) -> bool:
    return any(path.is_relative_to(root) for root in _package_roots())


@dataclass(frozen=True)
class ContigIndex:
    """One ``.fai`` line: the sequence's length and where its bases sit in the (uncompressed) file."""

    name: str
    length: int
    offset: int  # byte offset of the first base
    line_bases: int  # bases per full line
    line_bytes: int  # bytes per full line, line terminator included


def read_fai(path: Path, fasta: Path) -> list[ContigIndex]:
    """Parse a ``.fai`` file; duplicate names raise ``GenomambaError`` naming the FASTA and the record."""
    records: list[ContigIndex] = []
    seen: set[str] = set()
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        try:
            name, length, offset, line_bases, line_bytes = fields[0], *map(int, fields[1:5])
        except (ValueError, IndexError):
            raise GenomambaError("malformed FASTA index line", path, lineno) from None
        if name in seen:
            raise GenomambaError("duplicate sequence name", fasta, name)
        seen.add(name)
        records.append(ContigIndex(name, length, offset, line_bases, line_bytes))
    return records


def _fresh(index: Path, fasta: Path) -> bool:
    return index.is_file() and index.stat().st_mtime >= fasta.stat().st_mtime


class Genome:
    """Indexed random access to a plain or BGZF FASTA (or another input, through its cached BGZF copy).

    ``path`` is the input as given (every error names it), ``source_format`` what it is (``genome.inputs.sniff``),
    ``fasta_path`` the FASTA actually read and ``compression`` that file's (``plain`` or ``bgzf``).

    ``contigs``: ``{name: length}`` in FASTA order. ``fetch``/``fetch_tokens``/``read_bases`` take 0-based
    half-open coordinates and a name that ``resolve`` understands (aliases chr1<->1, chrM<->MT).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).expanduser().absolute()  # the input, as every error names it
        self.source_format = sniff(self.path)
        # the FASTA that is indexed and read: the input itself, or its BGZF copy in the cache
        converted = self.source_format in CONVERTED
        self.fasta_path = converted_copy(self.path, self.source_format) if converted else self.path
        self.compression = "plain" if self.source_format == "plain" else "bgzf"
        self.index_path, self.gzi_path = self._ensure_index()
        self._records = {r.name: r for r in read_fai(self.index_path, self.path)}
        if not self._records:
            raise GenomambaError("empty FASTA (no sequences)", self.path)
        if not any(r.length for r in self._records.values()):
            raise GenomambaError("empty FASTA (every sequence has length 0)", self.path)
        self.contigs: dict[str, int] = {name: r.length for name, r in self._records.items()}
        if self.compression == "bgzf":
            self.blocks = bgzf.BlockTable.from_gzi(self.gzi_path)
        self._fh = None
        self._fh_pid = None

    def __getstate__(self) -> dict:
        # picklable (spawned DataLoader workers): open handles are dropped and reopened on first use
        state = self.__dict__.copy()
        state.update(_fh=None, _fh_pid=None)
        return state

    def __repr__(self) -> str:
        return f"Genome({str(self.path)!r}, {len(self.contigs)} sequences, {sum(self.contigs.values()):,} bp)"

    # ----------------------------------------------------------------------------------------------- index
    def _index_locations(self) -> list[tuple[Path, Path | None]]:
        """Candidate (fai, gzi) locations: beside the FASTA, then the cache."""
        fasta, gz = self.fasta_path, self.compression == "bgzf"
        beside = (Path(f"{fasta}.fai"), Path(f"{fasta}.gzi") if gz else None)
        st = fasta.stat()
        key = hashlib.sha256(f"{fasta.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
        folder = cache_dir() / "faidx" / key
        cached = (folder / f"{fasta.name}.fai", folder / f"{fasta.name}.gzi" if gz else None)
        return [beside, cached]

    def _ensure_index(self) -> tuple[Path, Path | None]:
        beside, cached = self._index_locations()
        for fai, gzi in (beside, cached):
            if _fresh(fai, self.fasta_path) and (gzi is None or _fresh(gzi, self.fasta_path)):
                return fai, gzi
        if is_writable_dir(self.fasta_path.parent) and not _is_package_data(self.fasta_path.resolve()):
            target = beside
        else:
            target = cached
            folder = target[0].parent
            if not can_create_dir(folder):
                raise GenomambaError(
                    f"FASTA directory is read-only and the index cache {folder} is not writable; "
                    f"set {CACHE_ENV} to a writable directory",
                    self.path,
                )
        self._build_index(*target)
        return target

    def _build_index(self, fai: Path, gzi: Path | None) -> None:
        """Build ``fai`` (and ``gzi``) under temporary names, check them, then rename both into place.

        A BGZF file's block table is walked first (truncation and broken headers are found there, without
        inflating) and written as the ``.gzi``, which pyfaidx then reads instead of building its own.
        """
        with contextlib.ExitStack() as stack:
            tmp_fai = stack.enter_context(atomic_file(fai))
            if gzi is not None:
                tmp_gzi = stack.enter_context(atomic_file(gzi))
                bgzf.scan(self.fasta_path, self.path).write_gzi(tmp_gzi)
            tmp_fai.unlink()  # pyfaidx builds an index only where none exists
            self._pyfaidx_index(tmp_fai, tmp_gzi if gzi is not None else None)
            read_fai(tmp_fai, self.path)  # duplicate names -> GenomambaError before anything is renamed

    def _pyfaidx_index(self, fai: Path, gzi: Path | None) -> None:
        import pyfaidx

        try:
            pyfaidx.Faidx(
                str(self.fasta_path), indexname=str(fai), gzi_indexname=str(gzi) if gzi else None,
                as_raw=True, build_index=True,
            ).close()  # fmt: skip
        except pyfaidx.FastaIndexingError as exc:
            problem = str(exc).replace(str(self.fasta_path), "").strip()
            if "does not contain a valid sequence" in problem:
                problem = "empty FASTA (no sequences)"
            raise GenomambaError(f"cannot index FASTA: {problem}", self.path) from None
        except (ValueError, *_INFLATE_ERRORS) as exc:
            if "Duplicate key" in str(exc):
                return  # read_fai names the duplicate
            if self.compression == "bgzf":
                bgzf.verify(self.fasta_path, self.path)  # names the first block that does not inflate
            raise GenomambaError(f"cannot index FASTA: {exc}", self.path) from None
        except OSError as exc:
            raise GenomambaError(f"cannot write FASTA index {fai} ({exc})", self.path) from None

    # --------------------------------------------------------------------------------------------- names
    def resolve(self, name: str) -> str:
        """The index's name for ``name``: itself, or its unique alias among chr1/1/Chr1 and chrM/MT/chrMT."""
        if name in self._records:
            return name
        stem = name
        for prefix in _CHROM_PREFIXES[1:]:
            if name.startswith(prefix):
                stem = name[len(prefix) :]
                break
        stems = set(_MITO_NAMES) if stem.upper() in _MITO_NAMES else {stem}
        hits = sorted({p + s for p in _CHROM_PREFIXES for s in stems} & self._records.keys())
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise GenomambaError(f"sequence name {name!r} is ambiguous (matches {', '.join(hits)})", self.path)
        shown = ", ".join(list(self._records)[:5]) + (", ..." if len(self._records) > 5 else "")
        raise GenomambaError(f"unknown sequence {name!r} (FASTA has: {shown})", self.path)

    def _bounds(self, chrom: str, start: int, end: int | None) -> tuple[ContigIndex, int, int]:
        rec = self._records[self.resolve(chrom)]
        end = rec.length if end is None else int(end)
        start = int(start)
        if not 0 <= start <= end <= rec.length:
            raise GenomambaError(
                f"interval {start}-{end} is outside the sequence (length {rec.length:,})", self.path, rec.name
            )
        return rec, start, end

    # ---------------------------------------------------------------------------------------------- reads
    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Bases [start, end) of ``chrom`` as a string in the FASTA's original case."""
        return self.read_bases(chrom, start, end).tobytes().decode("latin-1")

    def fetch_tokens(self, chrom: str, start: int, end: int, strand: str = "+") -> tuple[np.ndarray, np.ndarray]:
        """``(tokens uint8 (L,), softmask uint8 (L,))`` of [start, end); ``strand="-"`` gives the reverse
        complement (and the soft-mask reversed to match)."""
        if strand not in ("+", "-"):
            raise GenomambaError(f"strand must be '+' or '-', got {strand!r}", self.path, chrom)
        rec, start, end = self._bounds(chrom, start, end)
        tokens, softmask = self.encode_bases(rec.name, self.read_bases(rec.name, start, end), start)
        if strand == "-":
            return np.ascontiguousarray(reverse_complement(tokens)), np.ascontiguousarray(softmask[::-1])
        return tokens, softmask

    def encode_bases(self, name: str, bases: np.ndarray, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Tokenize raw bases read from ``name`` at ``start``; an error names the record and position."""
        try:
            return encode_with_softmask(bases)
        except GenomambaError:
            bad = int(np.argmax(np.take(_ENCODE, bases) == INVALID))
            shown = chr(bases[bad])
            raise GenomambaError(f"invalid nucleotide {shown!r} at position {start + bad:,}", self.path, name) from None

    def read_bases(self, chrom: str, start: int = 0, end: int | None = None) -> np.ndarray:
        """Raw ASCII bases [start, end) as uint8 (L,), original case; vectorised line-terminator removal."""
        rec, start, end = self._bounds(chrom, start, end)
        if end == start:
            return np.empty(0, dtype=np.uint8)
        per_line, line_bytes = rec.line_bases, rec.line_bytes
        first = (start // per_line) * per_line  # read from the start of start's line
        n = end - first
        n_full, rem = divmod(n, per_line)
        raw_start = rec.offset + (first // per_line) * line_bytes
        raw = self._read_raw(raw_start, raw_start + n_full * line_bytes + rem)
        if raw.size != n_full * line_bytes + rem:
            raise GenomambaError("FASTA is truncated (shorter than its index says)", self.path, rec.name)
        out = np.empty(n, dtype=np.uint8)
        # (n_full, line_bytes) view of whole lines: line_bases columns of bases, then '\n' or '\r\n'
        lines = raw[: n_full * line_bytes].reshape(n_full, line_bytes)
        out[: n_full * per_line].reshape(n_full, per_line)[:] = lines[:, :per_line]
        out[n_full * per_line :] = raw[n_full * line_bytes :]
        return out[start - first :]

    def iter_chunks(self, chrom: str, chunk_bases: int = 1 << 24) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, raw bases uint8)`` covering ``chrom`` in order, ``chunk_bases`` at a time."""
        name = self.resolve(chrom)
        length = self.contigs[name]
        for start in range(0, length, chunk_bases):
            yield start, self.read_bases(name, start, min(length, start + chunk_bases))

    def _handle(self):
        if self._fh is None or self._fh_pid != os.getpid():  # reopen after fork (DataLoader workers)
            self._fh = open(self.fasta_path, "rb")
            self._fh_pid = os.getpid()
        return self._fh

    def _read_raw(self, u0: int, u1: int) -> np.ndarray:
        """Uncompressed file bytes [u0, u1) as uint8 (a view; do not write)."""
        fh = self._handle()
        if self.compression == "plain":
            return np.frombuffer(os.pread(fh.fileno(), u1 - u0, u0), dtype=np.uint8)
        return self.blocks.read(fh.fileno(), u0, u1, self.path)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
