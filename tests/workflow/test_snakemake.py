"""The Snakemake workflow: dry run, lint, config validation, a tiny real end-to-end run, and the same run on a
real SLURM cluster (started by .ci/run; with GENOMAMBA_REQUIRE_SLURM=1 a missing cluster is a failure)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = Path(__file__).with_name("tiny.yaml")


def smk(*args, cwd, timeout=900):
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(cwd), *args]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def test_dry_run_default_config(tmp_path):
    r = smk("-n", "--cores", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "windows_make" in r.stdout + r.stderr


def test_lint(tmp_path):
    r = smk("--lint", cwd=tmp_path)
    # --lint exits 0 even when it has findings: require the clean verdict
    assert r.returncode == 0 and "Congratulations" in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]


def test_bad_config_is_rejected(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("genomes:\n  yeast_chrI:\n    fasta: yeast_chrI\n    windows: {window_size: -5}\n")
    r = smk("-n", "--cores", "1", "--configfile", str(bad), cwd=tmp_path)
    assert r.returncode != 0
    out = r.stdout + r.stderr  # snakemake prints the validation error on stdout
    assert "window_size" in out and "minimum" in out


def test_vep_context_below_the_scoring_bound_is_rejected_before_any_rule(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("vep: {context: 32}\n")
    r = smk("-n", "--cores", "1", "--configfile", str(bad), cwd=tmp_path)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "context" in out and "minimum" in out
    assert "windows_make" not in out  # rejected at validation, before the DAG is built


def test_unknown_config_key_is_rejected(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pretrain: {enabld: true}\n")
    r = smk("-n", "--cores", "1", "--configfile", str(bad), cwd=tmp_path)
    assert r.returncode != 0
    assert "enabld" in r.stdout + r.stderr


@pytest.mark.slow
def test_tiny_end_to_end(tmp_path):
    r = smk("--cores", "2", "--configfile", str(TINY), cwd=tmp_path)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    check_tiny_outputs(tmp_path)


def check_tiny_outputs(workdir: Path) -> None:
    results = workdir / "results"
    assert (results / "windows/yeast_chrI/tokens.u8").stat().st_size == 230_218
    summary = (results / "summary.txt").read_text()
    assert "yeast_chrI" in summary
    for log in (results / "logs").rglob("*.log"):
        assert log.is_file()


@pytest.mark.slurm
@pytest.mark.slow
def test_tiny_end_to_end_on_slurm(tmp_path, slurm_cluster):
    profile = ROOT / "configs/profiles/slurm-ci"
    r = smk("--workflow-profile", str(profile), "--configfile", str(TINY), cwd=tmp_path, timeout=1200)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    check_tiny_outputs(tmp_path)
    # proof the jobs went through sbatch: the executor keeps one SLURM log per job
    slurm_logs = list((tmp_path / ".snakemake/slurm_logs").rglob("*.log"))
    assert slurm_logs, "no SLURM job logs: the jobs did not go through sbatch"
    assert any("SLURM_JOB_ID" in p.read_text() or p.stat().st_size > 0 for p in slurm_logs)
