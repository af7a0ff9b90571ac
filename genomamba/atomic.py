"""Atomic outputs: write to a temporary sibling, rename into place only when complete.

An interrupted run therefore never leaves a file (or directory) that a rerun, or Snakemake, would trust.

Temporaries are named ``.<name>.genomamba-tmp.<host>.<pid>.<random>`` (and the previous output, while a directory
is swapped, ``.<name>.genomamba-old.<host>.<pid>.<random>``). A run killed outright (SIGKILL, out of memory, a
node lost) cannot clean up, so entering ``atomic_file``/``atomic_dir`` for a path first removes that path's
temporaries whose owner, a process on this host, no longer exists. Those of live processes, or of other hosts
sharing the file system, are left alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import socket
import stat
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from genomamba.errors import GenomambaError

log = logging.getLogger(__name__)

_TMP, _OLD = "genomamba-tmp", "genomamba-old"


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


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _check_parent(path: Path) -> None:
    """The folder ``path`` goes into exists and is writable, or can be created; else a one-line error."""
    parent = path.absolute().parent
    base = _nearest_existing(parent)
    if not base.is_dir():
        raise GenomambaError(f"cannot create the output directory: {base} is not a directory", parent)
    if not can_create_dir(parent):
        raise GenomambaError("output directory is not writable", parent)


# extensions of data files: an output written as a directory should not be named like one
_FILE_SUFFIXES = (
    ".parquet", ".tsv", ".csv", ".json", ".yaml", ".yml", ".txt", ".gz", ".bgz", ".bz2", ".xz", ".zst", ".zip",
    ".vcf", ".bcf", ".fa", ".fasta", ".fna", ".gff", ".gff3", ".gtf", ".bed", ".npy", ".npz", ".pt", ".ckpt",
    ".safetensors", ".u8",
)  # fmt: skip


def check_output_path(path: str | os.PathLike, kinds: tuple[str, ...] = ("file",)) -> Path:
    """Check an output path before any work starts; return it as a ``Path``.

    ``kinds``: what may be written there -- ``"dir"`` (a directory), ``"file"`` (a file of any name), or file
    extensions such as ``".parquet"``, ``".vcf.gz"`` (case-insensitive). Raises ``GenomambaError`` naming the path:
    a directory where a file is expected or a file where a directory is, a file name with an extension not in
    ``kinds``, a directory named like a data file, or a parent folder that is not writable or cannot be created.
    """
    path = Path(path)
    if path.name in ("", ".", ".."):
        raise GenomambaError("not a name an output can be written to", path)
    if "dir" in kinds and "file" in kinds:
        raise ValueError("kinds holds 'dir' or 'file', not both")
    name = path.name.lower()
    suffixes = tuple(k.lower() for k in kinds if k.startswith("."))
    is_file = "file" in kinds or (bool(suffixes) and name.endswith(suffixes))
    if "dir" in kinds and not is_file:
        if path.exists() and not path.is_dir():
            raise GenomambaError("exists and is not a directory, but a directory is written here", path)
        ext = next((s for s in _FILE_SUFFIXES if name.endswith(s)), None)
        if ext is not None:
            raise GenomambaError(f"is named like a {ext} file, but a directory is written here", path)
    elif not is_file:
        raise GenomambaError(f"expected a file name ending in {' or '.join(suffixes)}", path)
    elif path.is_dir():
        raise GenomambaError("is a directory, but a file is written here", path)
    _check_parent(path)
    return path


def check_output_dir(path: str | os.PathLike, marker: str) -> Path:
    """Check a directory output before any work starts; return it as a ``Path``.

    Writing a directory output replaces whatever is at ``path`` as a whole, so only a new name, an empty folder or
    a previous output of the same command may be there. ``marker`` names a file that every complete output of that
    command holds: a folder with other content but no ``marker`` is someone's own folder and is refused, as are an
    existing file and everything ``check_output_path`` refuses.
    """
    path = check_output_path(path, ("dir",))
    if path.is_dir() and not _is_empty(path) and not _is_output_of(path, marker):
        raise GenomambaError(
            f"exists and is not a previous output of this command (no {marker} in it); refusing to replace it", path
        )
    return path


# Every directory ``atomic_dir`` completes holds this stamp, naming its marker. Snakemake deletes a job's declared
# outputs before it reruns the job, and the marker is often one of them: the stamp, never declared, still says
# whose folder it is, so a rerun is not mistaken for someone's own folder.
OUTPUT_STAMP = ".genomamba-output"


def _is_output_of(folder: Path, marker: str) -> bool:
    """``folder`` holds ``marker``, or the stamp of an output that did (see ``OUTPUT_STAMP``)."""
    if (folder / marker).is_file():
        return True
    try:
        return (folder / OUTPUT_STAMP).read_text().strip() == marker
    except (OSError, UnicodeDecodeError):
        return False


def _is_empty(folder: Path) -> bool:
    """True if ``folder`` holds nothing; one we cannot list is a one-line error rather than a traceback."""
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is None
    except OSError as exc:
        raise GenomambaError(f"cannot list the output directory ({exc.strerror})", folder) from None


def _check_writable_parent(path: Path) -> None:
    _check_parent(path)
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenomambaError(f"cannot create output directory ({exc.strerror})", parent) from None


def _owned_prefix(path: Path, kind: str) -> str:
    """``.<name>.<kind>.<host>.<pid>.``: the start of a temporary name that says which process owns it."""
    return f".{path.name}.{kind}.{socket.gethostname()}.{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporaries of ``path`` left by processes of this host that no longer exist; return them."""
    path = Path(path)
    host = socket.gethostname()
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    removed = []
    for kind in (_TMP, _OLD):
        prefix = f".{path.name}.{kind}."
        for name in names:
            owner = name[len(prefix) :].rsplit(".", 2) if name.startswith(prefix) else []
            if len(owner) != 3 or owner[0] != host or not owner[1].isdigit() or _alive(int(owner[1])):
                continue
            stale = path.parent / name
            _remove(stale)
            log.info("removed %s, left by process %s, which no longer runs", stale, owner[1])
            removed.append(stale)
    return removed


def _remove(path: Path) -> None:
    """Delete a file or a directory tree; one already gone (another process cleaned it) is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _temp_beside(path: Path, make) -> Path:
    """Create the temporary sibling with ``make`` (mkstemp/mkdtemp); a refusal is a one-line input error.

    The attempt itself is the check: ``os.access`` says yes to root even on a read-only directory.
    """
    try:
        return Path(make(prefix=_owned_prefix(path, _TMP), dir=path.parent))
    except OSError as exc:
        raise GenomambaError(f"output directory is not writable ({exc.strerror})", path.parent) from None


def _umask() -> int:
    """The process umask; reading it means setting it, so it is put straight back."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _closed(fd_and_name: tuple[int, str]) -> str:
    """Close mkstemp's descriptor and give the file the permissions a plain ``open`` would (mkstemp uses 0600)."""
    fd, name = fd_and_name
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    return name


def _plain_dir(**kwargs) -> str:
    """mkdtemp, then the permissions a plain ``mkdir`` would give (mkdtemp uses 0700): the directory becomes the
    output itself, so it must be as readable to others as any other output the user writes."""
    name = tempfile.mkdtemp(**kwargs)
    os.chmod(name, 0o777 & ~_umask())
    return name


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds, else delete it."""
    path = Path(path)
    _check_writable_parent(path)
    remove_stale_temporaries(path)
    tmp_path = _temp_beside(path, lambda **kw: _closed(tempfile.mkstemp(**kw)))
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, marker: str, stamp: bool = True) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; swap it into place if the block succeeds, else delete it.

    An existing ``path`` is replaced only after the new content is complete, and only if ``check_output_dir``
    allows it (a previous output, which holds ``marker`` or the stamp naming it). Commands call that check before
    their work; this one is the backstop, so no caller can delete a user's folder. ``stamp=False`` leaves out
    ``OUTPUT_STAMP``: for a format whose file list is fixed (checkpoints) and whose marker is part of it.
    """
    path = check_output_dir(path, marker)
    _check_writable_parent(path)
    remove_stale_temporaries(path)
    tmp_path = _temp_beside(path, _plain_dir)
    try:
        yield tmp_path
        if stamp:
            (tmp_path / OUTPUT_STAMP).write_text(marker + "\n")
        if path.exists():
            old = path.with_name(_owned_prefix(path, _OLD) + uuid.uuid4().hex[:8])
            os.replace(path, old)
            os.replace(tmp_path, path)
            _remove(old)
        else:
            os.replace(tmp_path, path)
    finally:
        _remove(tmp_path)


@contextlib.contextmanager
def scratch_dir(path: str | os.PathLike) -> Iterator[Path]:
    """A working directory beside the output ``path`` for one run, deleted on exit. It is named like ``path``'s
    temporaries, so a rerun after a killed run (no ``finally``) removes the one it left."""
    path = Path(path)
    _check_writable_parent(path)
    remove_stale_temporaries(path)
    work = _temp_beside(path, tempfile.mkdtemp)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def file_digest(path: str | os.PathLike, algorithm: str = "sha256", chunk: int = 1 << 24) -> str:
    """Hex digest of a file, read in bounded chunks: the one checksum helper (windows QC, pretraining data,
    VEP provenance)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
