"""``genomamba windows`` end to end: fly chr 4 (the issue's must-show), config/flags, and every bad input."""

from __future__ import annotations

import gzip
import subprocess
import sys
import time

import numpy as np
import polars as pl
import pytest

from genomamba import alphabet as tk
from genomamba.cli import main
from genomamba.genome.windows import WindowsDir
from tests.helpers import run_cli

from .conftest import FLY4_FASTA, listing, shared_file, write_fasta


def one_line_error(capsys, argv, *needles) -> str:
    """Run the CLI in-process; it must exit 2 with exactly one stderr line naming every needle."""
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("genomamba windows: ") and "Traceback" not in lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_fly_chr4_default_windows_decode_back_to_the_fasta(tmp_path, capsys):
    fasta = shared_file(*FLY4_FASTA)
    out = tmp_path / "fly4"
    assert main(["windows", "--fasta", str(fasta), "--out", str(out)]) == 0
    assert "3 windows kept (train 1, val 1, test 1)" in capsys.readouterr().out
    wd = WindowsDir(out, verify=True)

    # one full 2^20 window (train) plus the 299,555 bp tail, held out and halved into val and test (both
    # halves >= min_tail = 2^20 / 16, so kept)
    rows = wd.windows.sort("start")
    assert rows["start"].to_list() == [0, 1_048_576, 1_198_354]
    assert rows["end"].to_list() == [1_048_576, 1_198_354, 1_348_131]
    assert rows["split"].to_list() == ["train", "val", "test"]
    assert wd.contigs.row(0) == ("NC_004353.4", 0, 1_348_131, wd.contigs["md5"][0])
    assert wd.qc["totals"] == {"candidates": 3, "kept": 3, "dropped": {"short_tail": 0, "max_n_frac": 0}}
    assert wd.qc["genome"]["fasta_md5"] == "9a4c2e53a72746fe31b76834b6a5b57a"  # shared PROVENANCE.md
    assert wd.qc["warnings"] == []
    # the tail policy: with min_tail above half the tail, the halves are not made and the tail stays whole
    out2 = tmp_path / "fly4_tail"
    assert main(["windows", "--fasta", str(fasta), "--out", str(out2), "--min-tail", "200000"]) == 0
    tail_only = WindowsDir(out2).windows.sort("start")
    assert tail_only.select("start", "end", "split").rows() == [(0, 1_048_576, "train"), (1_048_576, 1_348_131, "val")]
    # ... and with min_tail above the whole tail, the tail is dropped (and counted), leaving the full window
    assert main(["windows", "--fasta", str(fasta), "--out", str(out2), "--min-tail", "300000"]) == 0
    dropped = WindowsDir(out2)
    assert dropped.windows.select("start", "end", "split").rows() == [(0, 1_048_576, "train")]
    assert dropped.qc["per_chromosome"]["NC_004353.4"]["dropped"] == {"short_tail": 1, "max_n_frac": 0}
    # every base: tokens (+ soft-mask as case) decode to exactly the FASTA as Biopython reads it
    from Bio import SeqIO

    with gzip.open(fasta, "rt") as fh:
        (record,) = SeqIO.parse(fh, "fasta")
    expected = np.frombuffer(str(record.seq).encode(), dtype=np.uint8)
    decoded = tk._DECODE[wd.tokens] | (wd.softmask.astype(np.uint8) << 5)  # vectorised decode, case restored
    iupac = ~np.isin(expected & 0xDF, np.frombuffer(b"ACGTN", np.uint8))
    assert np.array_equal(decoded[~iupac], expected[~iupac])
    assert (wd.tokens[iupac] == tk.N).all()  # ambiguity codes (if any) are N tokens, case kept in the mask
    assert 0.27 < wd.softmask.mean() < 0.29  # PROVENANCE: 27.8% soft-masked
    for i in range(len(wd)):  # each window's slice is the FASTA's interval
        tokens, softmask = wd.window(i)
        start, end = wd.windows["start"][i], wd.windows["end"][i]
        assert np.array_equal(tk._DECODE[tokens] | (softmask << 5), expected[start:end])


def test_config_file_and_flags(tmp_path, capsys):
    fasta = write_fasta(tmp_path / "g.fa", {"chr1": "ACGT" * 5_000, "chr2": "GGCC" * 4_000, "chrM": "AC" * 1_000})
    (tmp_path / "w.yaml").write_text("window_size: 2000\nmin_tail: 1500\nseed: 3\n")
    argv = [
        "windows",
        "--fasta",
        str(fasta),
        "--out",
        str(tmp_path / "w"),
        "--config",
        str(tmp_path / "w.yaml"),
    ]
    assert main([*argv, "--window-size", "4000", "--val-chroms", "2", "--test-chroms", "MT"]) == 0
    wd = WindowsDir(tmp_path / "w")
    params = wd.qc["parameters"]
    assert (params["window_size"], params["min_tail"], params["seed"], params["split_by"]) == (
        4_000,
        1_500,
        3,
        "chromosome",
    )
    assert wd.windows.group_by("split").agg(pl.col("chrom").unique()).sort("split").rows() == [
        ("test", ["chrM"]), ("train", ["chr1"]), ("val", ["chr2"])
    ]  # fmt: skip
    (tmp_path / "bad.yaml").write_text("window_sise: 2000\n")
    assert (
        main(
            [
                "windows",
                "--fasta",
                str(fasta),
                "--out",
                str(tmp_path / "x"),
                "--config",
                str(tmp_path / "bad.yaml"),
            ]
        )
        == 2
    )
    assert "unknown key(s) window_sise" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("missing.fa", None, "file not found"),
        ("notes.txt", b"hello, not a genome\n", "not a FASTA file"),
        ("empty.fa", b"", "empty FASTA"),
        ("dup.fa", b">chr1\nACGT\n>chr2\nACGT\n>chr1\nACGT\n", "chr1: duplicate sequence name"),
    ],
)
def test_bad_fasta(tmp_path, capsys, name, content, problem):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "w"
    one_line_error(capsys, ["windows", "--fasta", str(path), "--out", str(out)], str(path), problem)
    assert not out.exists()
    assert listing(tmp_path) == ([] if content is None else [name])  # no index, no temp dir


def test_window_size_larger_than_every_chromosome(tmp_path, capsys):
    fasta = write_fasta(tmp_path / "g.fa", {"a": "ACGT" * 100, "b": "ACGT" * 200})
    out = tmp_path / "w"
    one_line_error(
        capsys, ["windows", "--fasta", str(fasta), "--out", str(out)],
        str(fasta), "window size 1,048,576 bp is larger than every sequence (longest: b, 800 bp)",
    )  # fmt: skip
    assert not out.exists()


def test_read_only_output_directory(tmp_path, capsys, read_only_dir):
    fasta = write_fasta(tmp_path / "g.fa", {"a": "ACGT" * 1_000})
    folder, freeze = read_only_dir
    freeze()
    for out in (folder / "w", folder / "deeper" / "w"):
        argv = ["windows", "--fasta", str(fasta), "--out", str(out), "--window-size", "1000"]
        one_line_error(capsys, argv, str(folder), "output directory is not writable")
    assert listing(folder) == []


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--window-size", "0"], "--window-size must be a positive number of bases, got 0"),
        (["--window-size", "-4096"], "--window-size must be a positive number of bases, got -4096"),
        (["--stride", "0"], "--stride must be a positive number of bases"),
        (["--block-size", "-1"], "--block-size must be a positive number of bases"),
        (["--min-tail", "-1"], "--min-tail must be >= 0 bases"),
        (["--max-n-frac", "1.5"], "--max-n-frac must be a fraction in [0, 1], got 1.5"),
        (["--max-n-frac", "nan"], "--max-n-frac: expected a finite number, got nan"),
        (["--val-frac", "-0.1"], "--val-frac must be a fraction in [0, 1]"),
        (["--test-frac", "inf"], "--test-frac: expected a finite number, got inf"),
        (["--val-frac", "0.5", "--test-frac", "0.5"], "--val-frac and --test-frac must sum to < 1"),
        (["--seed", "-1"], "--seed must be >= 0, got -1"),
        (["--split-by", "block", "--val-chroms", "a"], "--val-chroms/test_chroms need --split-by=chromosome"),
    ],
)
def test_out_of_range_flags(tmp_path, capsys, flags, needle):
    fasta = write_fasta(tmp_path / "g.fa", {"a": "ACGT" * 1_000})
    argv = ["windows", "--fasta", str(fasta), "--out", str(tmp_path / "w"), *flags]
    one_line_error(capsys, argv, needle)
    assert listing(tmp_path) == ["g.fa"]  # rejected before the FASTA was indexed


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--window-size", "abc"], "argument --window-size: invalid int value: 'abc'"),
        (["--window-size", "1.5"], "argument --window-size: invalid int value: '1.5'"),
        (["--max-n-frac", "half"], "argument --max-n-frac: invalid float value: 'half'"),
        (["--seed", "0x"], "argument --seed: invalid int value: '0x'"),
        (["--split-by", "random"], "argument --split-by: invalid choice: 'random'"),
    ],
)
def test_non_numbers_are_one_line_exit_2(tmp_path, capsys, flags, needle):
    fasta = write_fasta(tmp_path / "g.fa", {"a": "ACGT" * 1_000})
    with pytest.raises(SystemExit) as exc:
        main(["windows", "--fasta", str(fasta), "--out", str(tmp_path / "w"), *flags])
    assert exc.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genomamba windows: ") and needle in lines[0], lines


def test_out_of_range_config_file_names_the_key_and_file(tmp_path, capsys):
    fasta = write_fasta(tmp_path / "g.fa", {"a": "ACGT" * 1_000})
    config = tmp_path / "w.yaml"
    config.write_text("chunk_bases: 0\n")
    argv = ["windows", "--fasta", str(fasta), "--out", str(tmp_path / "w"), "--config", str(config)]
    one_line_error(capsys, argv, str(config), "chunk_bases must be a positive number of bases, got 0")


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda t: t / "w.parquet", "is named like a .parquet file, but a directory is written here"),
        (lambda t: t / "w.tsv.gz", "is named like a .gz file"),
        (lambda t: _touch(t / "w"), "exists and is not a directory, but a directory is written here"),
        (lambda t: _touch(t / "afile") / "w", "is not a directory"),
        (lambda t: _folder_with(t / "home", "thesis.tex"), "not a previous output of this command (no qc.json in it)"),
    ],
)
def test_bad_output_paths_are_refused_before_any_work(tmp_path, capsys, make, needle):
    data = tmp_path / "data"
    data.mkdir()
    fasta = write_fasta(data / "g.fa", {"a": "ACGT" * 1_000})
    out = make(tmp_path)
    one_line_error(capsys, ["windows", "--fasta", str(fasta), "--out", str(out)], needle)
    assert listing(data) == ["g.fa"]  # nothing indexed


def _touch(path):
    path.write_text("not a directory")
    return path


def _folder_with(path, name):
    path.mkdir()
    (path / name).write_text("precious")
    return path


def test_subprocess_error_is_one_line_with_exit_2(tmp_path):
    fasta = tmp_path / "g.fa"
    fasta.write_text(">a\nACGTACGT\nACG\nACGTACGT\n")  # ragged lines: cannot be indexed
    r = subprocess.run(
        [sys.executable, "-m", "genomamba", "windows", "--fasta", str(fasta), "--out", str(tmp_path / "w")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"genomamba windows: {fasta}: cannot index FASTA"), r.stderr
    assert listing(tmp_path) == ["g.fa"]


# ------------------------------------------------------------------------------------------- kill and rerun
def test_sigkill_mid_run_then_rerun(tmp_path):
    rng = np.random.default_rng(0)
    fasta = tmp_path / "big.fa"
    with open(fasta, "wb") as fh:  # 4 x 8 Mbp of random bases, 1,000-bp lines (indexes quickly)
        for name in ("c1", "c2", "c3", "c4"):
            seq = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, 8_000_000)].reshape(-1, 1_000)
            fh.write(f">{name}\n".encode() + np.hstack([seq, np.full((seq.shape[0], 1), 10, np.uint8)]).tobytes())
    out = tmp_path / "w"
    argv = [sys.executable, "-m", "genomamba", "windows", "--fasta", str(fasta), "--out", str(out)]
    proc = subprocess.Popen([*argv, "--window-size", "1000"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while proc.poll() is None and not _temps(out) and time.monotonic() < deadline:
        time.sleep(0.002)  # the temporary directory appears once indexing is done and writing starts
    proc.kill()
    assert proc.wait(timeout=30) == -9, f"windows finished before it could be killed: {proc.stderr.read()}"
    (stale,) = _temps(out)
    assert not out.exists()
    rerun = run_cli("windows", "--fasta", str(fasta), "--out", str(out), "--window-size", "1000", check=True)
    assert "no longer runs" in rerun.stderr and str(stale) in rerun.stderr
    assert _temps(out) == [] and not stale.exists()
    assert WindowsDir(out, verify=True).qc["totals"]["kept"] == 32_000


def _temps(out):
    return sorted(out.parent.glob(f".{out.name}.genomamba-*"))
