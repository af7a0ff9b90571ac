"""Atomic outputs: write to a temporary sibling, rename into place only when complete.

An interrupted run therefore never leaves a file (or directory) that a rerun, or Snakemake, would trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from genomamba.errors import GenomambaError


def is_writable_dir(path: str | os.PathLike) -> bool:
    """True if ``path`` is a directory we may write into.

    ``os.access`` says yes to root for any directory that is not on a read-only mount, so for root the owner's
    write bit is also required: a directory someone made read-only (``chmod a-w``) stays read-only to us.
    """
    path = Path(path)
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        return False
    if os.geteuid() == 0:
        return bool(path.stat().st_mode & stat.S_IWUSR)
    return True


def can_create_dir(path: str | os.PathLike) -> bool:
    """True if ``path`` is a writable directory, or could be created under its nearest existing ancestor."""
    path = Path(path).absolute()
    while not path.exists():
        if path.parent == path:
            return False
        path = path.parent
    return is_writable_dir(path)


def _check_writable_parent(path: Path) -> None:
    parent = path.parent
    if not can_create_dir(parent):
        raise GenomambaError("output directory is not writable", parent)
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenomambaError(f"cannot create output directory ({exc.strerror})", parent) from None


def _temp_beside(path: Path, make) -> Path:
    """Create the temporary sibling with ``make`` (mkstemp/mkdtemp); a refusal is a one-line input error.

    The attempt itself is the check: ``os.access`` says yes to root even on a read-only directory.
    """
    try:
        return Path(make(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise GenomambaError(f"output directory is not writable ({exc.strerror})", path.parent) from None


def _closed(fd_and_name: tuple[int, str]) -> str:
    """Close mkstemp's descriptor and give the file the permissions a plain ``open`` would (mkstemp uses 0600)."""
    fd, name = fd_and_name
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    os.close(fd)
    return name


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds, else delete it."""
    path = Path(path)
    _check_writable_parent(path)
    tmp_path = _temp_beside(path, lambda **kw: _closed(tempfile.mkstemp(**kw)))
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; swap it into place if the block succeeds, else delete it.

    An existing ``path`` is replaced only after the new content is complete.
    """
    path = Path(path)
    _check_writable_parent(path)
    tmp_path = _temp_beside(path, tempfile.mkdtemp)
    try:
        yield tmp_path
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp_path, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            shutil.rmtree(tmp_path, ignore_errors=True)


def file_digest(path: str | os.PathLike, algorithm: str = "sha256", chunk: int = 1 << 24) -> str:
    """Hex digest of a file, read in bounded chunks: the one checksum helper (windows QC, pretraining data,
    VEP provenance)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
