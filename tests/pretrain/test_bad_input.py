"""Bad input fails before training with one line on stderr and exit code 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from genomamba.cli import main


def _run(capsys, windows, out, *extra) -> tuple[int, str]:
    rc = main(["pretrain", "--windows", str(windows), "--out", str(out), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    lines = [ln for ln in err if ln.startswith("genomamba pretrain:")]
    return rc, lines[-1] if lines else "\n".join(err)


def _copy(windows_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "w"
    shutil.copytree(windows_dir, dst)
    return dst


@pytest.fixture
def ok_args(fast_overrides):
    return fast_overrides


def test_missing_windows_dir(capsys, tmp_path, ok_args):
    rc, line = _run(capsys, tmp_path / "nope", tmp_path / "out", *ok_args)
    assert rc == 2 and "windows directory not found" in line


def test_incomplete_windows_dir(capsys, tmp_path, windows_dir, ok_args):
    w = _copy(windows_dir, tmp_path)
    (w / "windows.parquet").unlink()
    rc, line = _run(capsys, w, tmp_path / "out", *ok_args)
    assert rc == 2 and "missing windows.parquet" in line


def test_manifest_disagrees_with_tokens(capsys, tmp_path, windows_dir, ok_args):
    w = _copy(windows_dir, tmp_path)
    data = (w / "tokens.u8").read_bytes()
    (w / "tokens.u8").write_bytes(data[:-100])  # truncated token file
    rc, line = _run(capsys, w, tmp_path / "out", *ok_args)
    assert rc == 2 and "tokens.u8" in line and "bytes" in line


def test_empty_split(capsys, tmp_path, windows_dir, ok_args):
    w = _copy(windows_dir, tmp_path)
    table = pl.read_parquet(w / "windows.parquet")
    table.filter(pl.col("split") != "test").write_parquet(w / "windows.parquet")
    rc, line = _run(capsys, w, tmp_path / "out", *ok_args)
    assert rc == 2 and "split 'test' has no windows" in line


def test_seq_len_longer_than_every_window(capsys, tmp_path, windows_dir, ok_args):
    rc, line = _run(
        capsys, windows_dir, tmp_path / "out", *ok_args, "data.seq_len=4096", "data.tokens_per_micro_batch=4096"
    )
    assert rc == 2 and "longer than every train window" in line


@pytest.mark.parametrize(
    "override,msg",
    [
        ("trainer.max_step=5", "unknown key(s) trainer.max_step"),
        ("trainer.max_steps=five", "trainer.max_steps: expected an integer"),
        ("data.softmask_weight=yes", "data.softmask_weight"),
        ("model.d_modle=8", "unknown key(s) model.d_modle"),
        ("model.fusion=sideways", "fusion"),
        ("data.tokens_per_micro_batch=100", "multiple of every sequence length"),
        ("data.eval_seq_len=0", "data.eval_seq_len must be >= 1"),
        ("data.max_eval_tiles=0", "data.max_eval_tiles must be >= 1"),
        ("trainer.threads=0", "trainer.threads must be >= 1"),
        ("trainer.max_time_minutes=-1", "trainer.max_time_minutes must be > 0"),
        ("optim.beta2=1.0", "beta1 and beta2 must be in [0, 1)"),
        ("oops", "not of the form key=value"),
    ],
)
def test_bad_config(capsys, tmp_path, windows_dir, ok_args, override, msg):
    rc, line = _run(capsys, windows_dir, tmp_path / "out", *ok_args, override)
    assert rc == 2 and msg in line, line
    assert not (tmp_path / "out").exists()  # nothing written before the input is validated


def test_bad_config_file(capsys, tmp_path, windows_dir):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("trainer:\n  max_steps: 3\nfoo: 1\n")
    rc, line = _run(capsys, windows_dir, tmp_path / "out", "--config", str(cfg))
    assert rc == 2 and str(cfg) in line and "unknown key(s) foo" in line
    rc, line = _run(capsys, windows_dir, tmp_path / "out", "--config", str(tmp_path / "missing.yaml"))
    assert rc == 2 and "config file not found" in line


def test_resume_needs_a_checkpoint_and_a_run_needs_resume(capsys, tmp_path, windows_dir, ok_args):
    rc, line = _run(capsys, windows_dir, tmp_path / "out", "--resume", *ok_args)
    assert rc == 2 and "no Lightning checkpoint" in line
    (tmp_path / "out" / "lightning").mkdir(parents=True)
    (tmp_path / "out" / "lightning" / "last.ckpt").write_bytes(b"x")
    rc, line = _run(capsys, windows_dir, tmp_path / "out", *ok_args)
    assert rc == 2 and "pass --resume" in line


def test_slurm_layout_mismatch_refused(capsys, tmp_path, windows_dir, ok_args, monkeypatch):
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_JOB_NAME", "pretrain")
    rc, line = _run(capsys, windows_dir, tmp_path / "out", *ok_args, "trainer.devices=2")
    assert rc == 2 and "SLURM runs 1 task(s)" in line and "devices x trainer.num_nodes = 2 x 1" in line
