"""What a genome input is, and the cached BGZF FASTA copy of the inputs that cannot be read in place.

``sniff(path)`` names the format: ``plain`` or ``bgzf`` FASTA (indexed and read where they are), ``gzip`` FASTA
(plain gzip has no block table, so no random access), or a ``genbank``/``embl`` flat file (gzip allowed). The last
three are converted once into a BGZF FASTA under the cache (``$GENOMAMBA_CACHE_DIR`` or ``$XDG_CACHE_HOME/genomamba``,
default ``~/.cache/genomamba``), in a folder keyed by the input's absolute path, size and modification time: an
edited input gets a fresh copy, an unchanged one reuses it. The copy is written under a temporary name and renamed
when complete, so an interrupted conversion leaves nothing a later run would trust.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path

from genomamba.atomic import atomic_file, can_create_dir
from genomamba.errors import GenomambaError
from genomamba.genome.bgzf import MAGIC, BgzfWriter, gzip_problem, is_block_header
from genomamba.genome.genbank import flat_file_kind, write_fasta

CACHE_ENV = "GENOMAMBA_CACHE_DIR"
_OTHER_COMPRESSION = {b"BZh": "bzip2", b"\xfd7zXZ": "xz", b"PK\x03\x04": "zip", b"\x28\xb5\x2f\xfd": "zstd"}
CONVERTED = ("gzip", "genbank", "embl")  # formats read through a cached BGZF FASTA copy


def cache_dir() -> Path:
    """Root of genomamba's writable cache (FASTA indexes of read-only files, converted copies)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "genomamba"


def sniff(path: Path) -> str:
    """The input's format: ``plain``, ``bgzf``, ``gzip`` (FASTA), ``genbank`` or ``embl`` (gzip allowed).

    Raises ``GenomambaError`` naming the file and the problem (missing, a directory, another compression, corrupt
    or truncated gzip, empty, or neither a ``>`` FASTA header nor a GenBank ``LOCUS``/EMBL ``ID`` line).
    """
    if not path.exists():
        raise GenomambaError("file not found", path)
    if path.is_dir():
        raise GenomambaError("is a directory, not a FASTA file", path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(18)
    except OSError as exc:
        raise GenomambaError(f"cannot read ({exc.strerror})", path) from None
    for magic, kind in _OTHER_COMPRESSION.items():
        if head.startswith(magic):
            raise GenomambaError(f"{kind}-compressed; only plain, gzip or BGZF (bgzip) FASTA is supported", path)
    compressed = head.startswith(MAGIC)
    try:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as fh:
            first = fh.read(4096).lstrip()
    except (OSError, EOFError, zlib.error) as exc:
        raise GenomambaError(gzip_problem(exc), path) from None
    if first.startswith(b"LOCUS "):
        return "genbank"
    if first.startswith(b"ID   "):
        return "embl"
    flat = flat_file_kind(path)
    if flat is not None:
        shown = first[:12].decode("ascii", errors="replace")
        raise GenomambaError(f"not a {flat} file (starts with {shown!r})", path)
    if not first:
        raise GenomambaError("empty FASTA (no sequences)", path)
    if not first.startswith(b">"):
        shown = first[:1].decode("ascii", errors="replace")
        raise GenomambaError(f"not a FASTA file (starts with {shown!r}, expected a '>' header line)", path)
    if not compressed:
        return "plain"
    return "bgzf" if is_block_header(head) else "gzip"


def converted_copy(path: Path, kind: str) -> Path:
    """The cached BGZF FASTA copy of ``path`` (a ``kind`` from ``CONVERTED``), written now if missing."""
    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
    target = cache_dir() / "converted" / key / f"{path.name}.fa.gz"
    if target.is_file():
        return target
    if not can_create_dir(target.parent):
        raise GenomambaError(
            f"the cache {target.parent} for its FASTA copy is not writable; set {CACHE_ENV} to a writable directory",
            path,
        )
    with atomic_file(target) as tmp, open(tmp, "wb") as raw, BgzfWriter(raw) as out:
        if kind == "gzip":
            _copy_gzip(path, out)
        else:
            write_fasta(path, kind, out)
    return target


def _copy_gzip(path: Path, out: BgzfWriter) -> None:
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(1 << 22):
                out.write(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise GenomambaError(gzip_problem(exc), path) from None
