"""Training end to end through the CLI: outputs, exact resume after a kill, 2-process DDP on gloo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(
        [sys.executable, "-m", "genomamba", "-q", "pretrain", "--no-progress-bar", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def _run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    p = _cli(*args)
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, err[-3000:]
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def _weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(path / "model.safetensors")


def test_end_to_end_outputs(tmp_path, windows_dir, fast_overrides):
    out = tmp_path / "run"
    r = _run("--windows", str(windows_dir), "--out", str(out), *fast_overrides)
    assert "| model (best by val) |" in r.stdout and "two_sided_k1" in r.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["world_size"] == 1 and summary["precision"] == "32"
    assert summary["tokens_per_step"] == 512
    assert set(summary["baselines"]["val"]) == {"one_sided_k0", "one_sided_k2", "two_sided_k1"}
    assert summary["data_checksums"]["tokens_md5"] and summary["tiles"]["val"] > 0
    val = summary["final_val"]["val/bits_per_base"]
    assert 0.5 < val < 3.0 and summary["best_val_bits_per_base"] <= val + 1e-6
    assert "test/bits_per_base" in summary["test_best_model"]
    for d in ("best", "last"):
        from genomamba.model import GenomambaModel

        model = GenomambaModel.from_pretrained(out / d)
        assert model.config.d_model == 16
    assert (out / "lightning" / "last.ckpt").is_file() and (out / "config.yaml").is_file()
    metrics = next((out / "logs" / "csv").glob("version_*/metrics.csv")).read_text()
    assert "train/loss" in metrics and "val/bits_per_base" in metrics and "train/tokens_per_s" in metrics


@pytest.mark.slow
def test_kill_and_resume_continues_exactly(tmp_path, windows_dir, fast_overrides):
    args = [*fast_overrides, "trainer.max_steps=8", "trainer.accumulate_grad_batches=2", "baselines.enabled=false"]
    killed = tmp_path / "killed"
    p = _cli("--windows", str(windows_dir), "--out", str(killed), *args)
    ckpt = killed / "lightning" / "last.ckpt"
    deadline = time.time() + 240
    while not ckpt.exists() and p.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    assert p.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    import torch

    step_at_kill = torch.load(ckpt, weights_only=False)["global_step"]
    assert 0 < step_at_kill < 8
    assert not (killed / "summary.json").exists()
    _run("--windows", str(windows_dir), "--out", str(killed), "--resume", *args)
    resumed = json.loads((killed / "summary.json").read_text())
    assert resumed["steps"] == 8 and resumed["resumed"] is True
    straight = tmp_path / "straight"
    _run("--windows", str(windows_dir), "--out", str(straight), *args)
    a, b = _weights(killed / "last"), _weights(straight / "last")
    for k in a:  # same data stream, optimizer, schedule: bit-identical weights
        assert torch.equal(a[k], b[k]), k
    # two CSV versions: the resumed attempt did not overwrite the first one's log
    assert len(list((killed / "logs" / "csv").glob("version_*"))) == 2


@pytest.mark.slow
def test_ddp_two_cpu_processes_gloo(tmp_path, windows_dir, fast_overrides):
    out = tmp_path / "ddp"
    r = _run(
        "--windows",
        str(windows_dir),
        "--out",
        str(out),
        *fast_overrides,
        "trainer.devices=2",
        "trainer.accelerator=cpu",
        "trainer.threads=1",
        "trainer.max_steps=4",
        timeout=400,
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 4
    assert summary["tokens_per_step"] == 2 * 512
    # both ranks scored their share of the tiles: the reduced count is the full number of tile positions
    n_tiles = summary["tiles"]["val"]
    assert summary["final_val"]["val/positions"] <= n_tiles * 128 and summary["final_val"]["val/positions"] > 0
    assert summary["final_val"]["val/positions"] == summary["baselines"]["val_positions"]
    assert r.stdout.count("pretrained 4 steps") == 1  # only rank 0 reports
