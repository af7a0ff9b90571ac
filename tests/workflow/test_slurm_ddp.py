"""Two-task DDP pretraining launched through SLURM (sbatch + srun, gloo on CPU): Lightning takes the layout
from SLURM, both ranks train, and rank 0 writes the summary with world size 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from genomamba.genome.registry import resolve_genome
from genomamba.genome.windows import WindowsConfig, build_windows

FAST = [
    "model.d_model=16",
    "model.n_layer=2",
    "model.d_state=4",
    "data.seq_len=256",
    "data.warmup_stages=[]",
    "data.tokens_per_micro_batch=1024",
    "data.max_eval_tiles=4",
    "trainer.max_steps=4",
    "trainer.val_every_steps=2",
    "trainer.ckpt_every_steps=2",
    "trainer.log_every_steps=1",
    "trainer.accelerator=cpu",
    "trainer.threads=1",
    "optim.warmup_steps=1",
    "baselines.enabled=false",
]


@pytest.mark.slurm
@pytest.mark.slow
def test_two_task_ddp_pretraining_through_sbatch(tmp_path, slurm_cluster):
    fasta, _ = resolve_genome("yeast_chrI")
    windows = tmp_path / "windows"
    build_windows(fasta, windows, WindowsConfig(window_size=8192, min_tail=2048))
    out = tmp_path / "pretrain"
    cmd = [sys.executable, "-m", "genomamba", "pretrain", "--windows", str(windows), "--out", str(out)]
    cmd += [*FAST, "trainer.devices=2"]
    job = tmp_path / "job.sh"
    job.write_text(
        "#!/bin/bash\n"
        "#SBATCH --job-name=genomamba-ddp\n"
        "#SBATCH --nodes=1 --ntasks=2 --ntasks-per-node=2 --cpus-per-task=1 --mem=4000\n"
        f"#SBATCH --output={tmp_path}/slurm-%j.out\n"
        f"srun {' '.join(cmd)}\n"
    )
    r = subprocess.run(["sbatch", "--wait", str(job)], capture_output=True, text=True, timeout=900)
    logs = list(tmp_path.glob("slurm-*.out"))
    log_text = "\n".join(p.read_text() for p in logs)
    assert r.returncode == 0, r.stdout + r.stderr + log_text[-4000:]
    assert logs, "no SLURM job log: the job did not run through sbatch"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["steps"] == 4
    assert (out / "best" / "model.safetensors").is_file()
