"""Atomic outputs: owned temporary names, and the clean-up of temporaries left by killed runs (a real SIGKILL)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import textwrap

import pytest

from genomamba.atomic import atomic_dir, atomic_file, remove_stale_temporaries

HOST = socket.gethostname()

# enters atomic_dir/atomic_file for argv[2], writes into the temporary, says "ready", then waits to be killed
_HOLDER = textwrap.dedent(
    """
    import sys, time
    from genomamba.atomic import atomic_dir, atomic_file
    kind, out = sys.argv[1], sys.argv[2]
    with (atomic_dir if kind == "dir" else atomic_file)(out) as tmp:
        if kind == "dir":
            (tmp / "part.bin").write_bytes(b"half-written")
        else:
            tmp.write_bytes(b"half-written")
        print("ready", flush=True)
        time.sleep(120)
    """
)


def _holder(kind: str, out) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, kind, str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", "the holder process did not enter the atomic block"
    return proc


def _temps(out, kind: str = "tmp") -> list:
    return sorted(out.parent.glob(f".{out.name}.genomamba-{kind}.*"))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporary_names_carry_host_and_pid(tmp_path):
    import os

    pattern = rf"\.out\.genomamba-tmp\.{re.escape(HOST)}\.{os.getpid()}\.\w+"
    with atomic_file(tmp_path / "out") as tmp:
        assert re.fullmatch(pattern, tmp.name), tmp.name
    with atomic_dir(tmp_path / "out") as tmp:  # replaces the file; its previous content goes via a .old name
        assert re.fullmatch(pattern, tmp.name), tmp.name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("kind", ["dir", "file"])
def test_rerun_after_sigkill_removes_the_dead_runs_temporary(tmp_path, kind):
    out = tmp_path / "result"
    proc = _holder(kind, out)
    (stale,) = _temps(out)
    assert str(proc.pid) in stale.name
    proc.kill()  # SIGKILL: no finally block, no atexit
    assert proc.wait(timeout=30) == -9
    assert _temps(out) == [stale] and not out.exists()  # the dead run's temporary is still there
    with (atomic_dir if kind == "dir" else atomic_file)(out) as tmp:
        assert not stale.exists()  # gone as soon as the rerun entered the block
        if kind == "dir":
            (tmp / "done.txt").write_text("complete")
        else:
            tmp.write_text("complete")
    assert _temps(out) == []
    assert (out / "done.txt" if kind == "dir" else out).read_text() == "complete"


def test_temporary_of_a_live_run_is_kept(tmp_path):
    out = tmp_path / "result"
    proc = _holder("dir", out)
    try:
        (live,) = _temps(out)
        with atomic_dir(out) as tmp:
            (tmp / "done.txt").write_text("complete")
        assert (out / "done.txt").read_text() == "complete"
        assert _temps(out) == [live] and (live / "part.bin").is_file()  # the running writer keeps its work
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert remove_stale_temporaries(out) == [live] and _temps(out) == []


def test_stale_swap_directory_and_other_hosts(tmp_path):
    out = tmp_path / "result"
    dead = _dead_pid()
    old = tmp_path / f".result.genomamba-old.{HOST}.{dead}.abcd1234"
    other_host = tmp_path / f".result.genomamba-tmp.not-{HOST}.{dead}.abcd1234"  # e.g. another cluster node
    unrelated = tmp_path / f".results.genomamba-tmp.{HOST}.{dead}.abcd1234"  # a different output's temporary
    for folder in (old, other_host, unrelated):
        folder.mkdir()
        (folder / "x").write_text("x")
    with atomic_dir(out) as tmp:
        (tmp / "done.txt").write_text("complete")
    assert not old.exists()
    assert other_host.is_dir() and unrelated.is_dir()


# ------------------------------------------------------------------------------------------ check_output_path
@pytest.mark.parametrize(
    "name, kinds, problem",
    [
        ("scores.txt", (".tsv", ".parquet"), "expected a file name ending in .tsv or .parquet"),
        ("folder", ("file",), "is a directory, but a file is written here"),
        ("folder", (".parquet",), "expected a file name ending in .parquet"),
        ("a_file", ("dir",), "exists and is not a directory, but a directory is written here"),
        ("w.json", ("dir",), "is named like a .json file, but a directory is written here"),
        ("a_file/out.tsv", ("file",), "is not a directory"),
    ],
)
def test_check_output_path_refusals(tmp_path, name, kinds, problem):
    from genomamba.atomic import check_output_path
    from genomamba.errors import GenomambaError

    (tmp_path / "folder").mkdir()
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(GenomambaError, match=re.escape(problem)):
        check_output_path(tmp_path / name, kinds)


def test_check_output_path_accepts(tmp_path):
    from genomamba.atomic import check_output_path

    assert check_output_path(tmp_path / "new" / "deeper" / "OUT.TSV.GZ", (".tsv.gz",)).name == "OUT.TSV.GZ"
    assert check_output_path(tmp_path / "windows", ("dir",)) == tmp_path / "windows"
    assert check_output_path(tmp_path / "anything.bin") == tmp_path / "anything.bin"  # default kinds: any file
    assert not (tmp_path / "new").exists()  # checking creates nothing
