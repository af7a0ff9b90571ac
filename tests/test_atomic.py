"""Atomic outputs: owned temporary names, and the clean-up of temporaries left by killed runs (a real SIGKILL)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import textwrap

import pytest

from genomamba.atomic import OUTPUT_STAMP, atomic_dir, atomic_file, check_output_dir, remove_stale_temporaries
from genomamba.errors import GenomambaError

HOST = socket.gethostname()

# enters atomic_dir/atomic_file for argv[2], writes into the temporary, says "ready", then waits to be killed
_HOLDER = textwrap.dedent(
    """
    import sys, time
    from genomamba.atomic import atomic_dir, atomic_file
    kind, out = sys.argv[1], sys.argv[2]
    with (atomic_dir(out, "done.txt") if kind == "dir" else atomic_file(out)) as tmp:
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
    (tmp_path / "out").unlink()
    for _ in range(2):  # the second run replaces the first one's output; its content goes via a .old name
        with atomic_dir(tmp_path / "out", "done.txt") as tmp:
            assert re.fullmatch(pattern, tmp.name), tmp.name
            (tmp / "done.txt").write_text("complete")
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
    with atomic_dir(out, "done.txt") if kind == "dir" else atomic_file(out) as tmp:
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
        with atomic_dir(out, "done.txt") as tmp:
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
    with atomic_dir(out, "done.txt") as tmp:
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


# ------------------------------------------------------------------------------------------ check_output_dir
def _user_folder(tmp_path):
    folder = tmp_path / "victim"
    folder.mkdir()
    (folder / "thesis.tex").write_text("do not delete")
    return folder


def test_a_users_folder_is_refused_and_left_intact(tmp_path):
    folder = _user_folder(tmp_path)
    problem = "exists and is not a previous output of this command (no done.txt in it); refusing to replace it"
    with pytest.raises(GenomambaError, match=re.escape(f"{folder}: {problem}")):
        check_output_dir(folder, "done.txt")
    with pytest.raises(GenomambaError, match="refusing to replace it"):  # atomic_dir checks too: the backstop
        with atomic_dir(folder, "done.txt") as tmp:
            (tmp / "done.txt").write_text("complete")
    assert [p.name for p in folder.iterdir()] == ["thesis.tex"]
    assert (folder / "thesis.tex").read_text() == "do not delete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim"]  # no temporary left behind


def test_an_existing_file_is_refused_as_a_directory_output(tmp_path):
    path = tmp_path / "notes"
    path.write_text("keep me")
    with pytest.raises(GenomambaError, match="exists and is not a directory, but a directory is written here"):
        check_output_dir(path, "done.txt")
    with pytest.raises(GenomambaError, match="exists and is not a directory"):
        with atomic_dir(path, "done.txt"):
            pass
    assert path.read_text() == "keep me"


def test_a_previous_output_and_an_empty_folder_are_replaced(tmp_path):
    previous = tmp_path / "previous"
    previous.mkdir()
    (previous / "done.txt").write_text("old")
    (previous / "stale.bin").write_text("old")
    empty = tmp_path / "empty"
    empty.mkdir()
    for out in (previous, empty):
        assert check_output_dir(out, "done.txt") == out
        with atomic_dir(out, "done.txt") as tmp:
            (tmp / "done.txt").write_text("new")
        assert sorted(p.name for p in out.iterdir()) == [OUTPUT_STAMP, "done.txt"]
        assert (out / "done.txt").read_text() == "new"


def test_a_rerun_after_snakemake_deleted_the_declared_outputs_is_still_replaced(tmp_path):
    out = tmp_path / "eval"
    with atomic_dir(out, "metrics.json") as tmp:
        (tmp / "metrics.json").write_text("{}")
        (tmp / "metrics.tsv").write_text("undeclared")
    (out / "metrics.json").unlink()  # snakemake removes a job's declared outputs before it reruns the job
    assert check_output_dir(out, "metrics.json") == out  # the stamp still says whose folder it is
    with pytest.raises(GenomambaError, match="no done.txt in it"):  # another command's folder is not its output
        check_output_dir(out, "done.txt")
    (out / OUTPUT_STAMP).write_text("metrics.json, forged\n")
    with pytest.raises(GenomambaError, match="refusing to replace it"):
        check_output_dir(out, "metrics.json")


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_new_directory_has_the_permissions_of_a_plain_mkdir(tmp_path, umask):
    import os
    import stat

    old = os.umask(umask)
    try:
        os.mkdir(tmp_path / "plain")
        with atomic_dir(tmp_path / "out", "done.txt") as tmp:
            (tmp / "done.txt").write_text("complete")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "out").stat().st_mode)
    assert mode == 0o777 & ~umask == stat.S_IMODE((tmp_path / "plain").stat().st_mode)
