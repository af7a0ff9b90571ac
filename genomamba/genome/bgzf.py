"""BGZF (SAM/BAM specification 4.1): random reads through the block table, a structural check, and a writer.

A BGZF file is a run of gzip members ("blocks") of at most 64 KiB uncompressed each. Every block header carries a
``BC`` extra subfield holding the block's compressed size, and the file ends with an empty block (the end-of-file
marker). A ``.gzi`` index lists the (compressed, uncompressed) start offsets of every block after the first.

Offsets: ``u`` is a byte position in the uncompressed stream. The block holding ``u`` is the last one whose
uncompressed start is <= ``u``, so a ``u`` equal to the end of one block is byte 0 of the next block -- never byte
65536 of the block before, which no reader can seek to.
"""

from __future__ import annotations

import gzip
import mmap
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from genomamba.errors import GenomambaError

MAGIC = b"\x1f\x8b"
HEADER = 18  # gzip header (10) + XLEN (2) + the 'BC' subfield (6): the only layout htslib accepts
FOOTER = 8  # CRC32 and ISIZE of the uncompressed data
MAX_ISIZE = 1 << 16
EOF_BLOCK = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_WRITE_BLOCK = 0xFF00  # uncompressed bytes per written block, as bgzip: incompressible data still fits in 64 KiB

try:  # libdeflate inflates BGZF blocks ~2x faster than zlib, with identical output; zlib is the stdlib path
    import deflate as _libdeflate
except ImportError:  # pragma: no cover - depends on the environment
    _libdeflate = None
INFLATE = "libdeflate" if _libdeflate is not None else "zlib"
crc32 = _libdeflate.crc32 if _libdeflate is not None else zlib.crc32


def inflate(payload: memoryview, size: int) -> bytes:
    """Raw-DEFLATE payload of one block -> its ``size`` uncompressed bytes."""
    if _libdeflate is not None:
        return _libdeflate.deflate_decompress(payload, size)
    return zlib.decompress(payload, -15, size)


def _deflate(data: bytes, level: int) -> bytes:
    if _libdeflate is not None:
        return _libdeflate.deflate_compress(data, level)
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def gzip_problem(exc: BaseException) -> str:
    """One-line description of a failed gzip read (``EOFError``: the stream stops early)."""
    if isinstance(exc, EOFError):
        return "truncated gzip: the file ends before its compressed stream does"
    if isinstance(exc, (gzip.BadGzipFile, zlib.error)):
        return f"corrupt gzip data ({exc})"
    return f"cannot read ({getattr(exc, 'strerror', None) or exc})"


def is_block_header(head: bytes) -> bool:
    """True if ``head`` starts with a BGZF block header (gzip, FEXTRA, XLEN 6, subfield ``BC`` of length 2)."""
    return (
        len(head) >= HEADER
        and head[:2] == MAGIC
        and bool(head[3] & 4)
        and head[10:12] == b"\x06\x00"
        and head[12:14] == b"BC"
        and head[14:16] == b"\x02\x00"
    )


def _block_span(buf, pos: int, where: int, path) -> tuple[int, int]:
    """Check the block at ``buf[pos:]`` (file offset ``where``); return (its end in ``buf``, its ISIZE)."""
    if len(buf) - pos < HEADER:
        raise GenomambaError(f"truncated: the BGZF block at byte {where:,} is cut short", path)
    head = buf[pos : pos + HEADER]
    if not is_block_header(head):
        if head[:4] == MAGIC + b"\x08\x00":  # an intact gzip header without the extra field: plain gzip
            problem = f"the gzip member at byte {where:,} has no block size; recompress with bgzip"
            raise GenomambaError(f"not BGZF: {problem}", path)
        raise GenomambaError(f"corrupt: no BGZF block header at byte {where:,}", path)
    end = pos + struct.unpack_from("<H", buf, pos + 16)[0] + 1
    if end - pos < HEADER + FOOTER:
        raise GenomambaError(f"corrupt: impossible BGZF block size at byte {where:,}", path)
    if end > len(buf):
        raise GenomambaError(f"truncated in the middle of the BGZF block at byte {where:,}", path)
    isize = struct.unpack_from("<I", buf, end - 4)[0]
    if isize > MAX_ISIZE:
        raise GenomambaError(f"corrupt: BGZF block at byte {where:,} claims {isize:,} uncompressed bytes", path)
    return end, isize


def iter_blocks(buf: bytes, where: int, path) -> Iterator[bytes]:
    """Inflate and check (CRC32, size) every block of ``buf``, which starts at file offset ``where``; errors
    name ``path``."""
    view = memoryview(buf)
    pos = 0
    while pos < len(buf):
        end, isize = _block_span(buf, pos, where + pos, path)
        crc = struct.unpack_from("<I", buf, end - 8)[0]
        block = f"the BGZF block at byte {where + pos:,}"
        try:
            data = inflate(view[pos + HEADER : end - FOOTER], isize)
        except Exception as exc:  # zlib.error / deflate.DeflateError: the payload does not inflate
            raise GenomambaError(f"corrupt: {block} does not inflate ({exc})", path) from None
        if len(data) != isize or crc32(data) != crc:
            raise GenomambaError(f"corrupt: {block} fails its checksum", path)
        yield data
        pos = end


def scan(path: Path, shown: Path | None = None) -> BlockTable:
    """Walk every block header of a BGZF file without inflating: its block table, or a ``GenomambaError`` (naming
    ``shown``, default ``path``) saying where the file is truncated or corrupt. The end-of-file marker must close
    it: a file cut exactly between two blocks is otherwise whole."""
    shown = shown or path
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        c, u = [], []
        pos = total = 0
        isize = None
        while pos < len(buf):
            end, isize = _block_span(buf, pos, pos, shown)
            c.append(pos)
            u.append(total)
            pos, total = end, total + isize
    if isize != 0:
        where = f"the BGZF block at byte {c[-1]:,}" if c else "its start"
        raise GenomambaError(f"truncated: ends after {where} without the BGZF end-of-file marker", shown)
    return BlockTable(np.array(c[:-1]), np.array(u[:-1]))


def verify(path: Path, shown: Path | None = None) -> None:
    """Inflate every block of a BGZF file; the first that does not inflate or fails its checksum raises."""
    with open(path, "rb") as fh:
        where = 0
        while buf := fh.read(HEADER):
            if is_block_header(buf):
                buf += fh.read(struct.unpack_from("<H", buf, 16)[0] + 1 - HEADER)
            for _ in iter_blocks(buf, where, shown or path):
                pass
            where += len(buf)


class BlockTable:
    """Start offsets of a BGZF file's blocks: ``c`` compressed, ``u`` uncompressed, int64 (n_blocks,) each, the
    first block (0, 0) included and the end-of-file marker left out."""

    def __init__(self, c: np.ndarray, u: np.ndarray):
        self.c = np.asarray(c, dtype=np.int64)
        self.u = np.asarray(u, dtype=np.int64)

    def block_of(self, u: int) -> int:
        """Index of the block holding uncompressed byte ``u`` (a block's end is the next block's byte 0)."""
        return int(np.searchsorted(self.u, u, side="right")) - 1

    def read(self, fd: int, u0: int, u1: int, path) -> np.ndarray:
        """Uncompressed bytes [u0, u1) as uint8, inflating only the blocks that hold them (fewer bytes if the
        file ends early; the caller checks the length)."""
        k0, k1 = self.block_of(u0), self.block_of(u1 - 1)
        c0 = int(self.c[k0])
        c1 = int(self.c[k1 + 1]) if k1 + 1 < self.c.size else os.fstat(fd).st_size
        parts, produced = [], int(self.u[k0])
        buf = os.pread(fd, c1 - c0, c0)
        for data in iter_blocks(buf, c0, path):
            parts.append(data)
            produced += len(data)
            if produced >= u1:
                break
        joined = np.frombuffer(b"".join(parts), dtype=np.uint8)
        skip = u0 - int(self.u[k0])
        return joined[skip : skip + (u1 - u0)]

    @classmethod
    def from_gzi(cls, path: Path) -> BlockTable:
        """Parse a ``.gzi``: uint64 count, then (compressed, uncompressed) uint64 pairs of blocks 1.."""
        raw = np.fromfile(path, dtype="<u8")
        if raw.size == 0 or raw.size != 1 + 2 * int(raw[0]):
            raise GenomambaError("malformed BGZF index (.gzi)", path)
        pairs = raw[1:].reshape(-1, 2).astype(np.int64)
        return cls(np.concatenate([[0], pairs[:, 0]]), np.concatenate([[0], pairs[:, 1]]))

    def write_gzi(self, path: Path) -> None:
        pairs = np.stack([self.c[1:], self.u[1:]], axis=1).astype("<u8")
        with open(path, "wb") as fh:
            fh.write(np.array([pairs.shape[0]], dtype="<u8").tobytes() + pairs.tobytes())


class BgzfWriter:
    """Write BGZF to a binary file object: ``write`` buffers, every full ``0xff00``-byte block is deflated (with
    libdeflate when present), ``close`` flushes the rest and appends the end-of-file marker."""

    def __init__(self, fh, level: int = 6):
        self.fh, self.level = fh, level
        self._pending = bytearray()

    def write(self, data: bytes) -> None:
        self._pending += data
        while len(self._pending) >= _WRITE_BLOCK:
            self._block(bytes(self._pending[:_WRITE_BLOCK]))
            del self._pending[:_WRITE_BLOCK]

    def _block(self, data: bytes) -> None:
        payload = _deflate(data, self.level)
        bsize = HEADER + len(payload) + FOOTER - 1
        header = MAGIC + b"\x08\x04" + bytes(4) + b"\x00\xff" + struct.pack("<H2sHH", 6, b"BC", 2, bsize)
        self.fh.write(header + payload + struct.pack("<II", crc32(data), len(data)))

    def close(self) -> None:
        if self._pending:
            self._block(bytes(self._pending))
            self._pending.clear()
        self.fh.write(EOF_BLOCK)

    def __enter__(self) -> BgzfWriter:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
