"""Fixtures for the inference commands: a small random genome, tiny deterministic models of every design (backend
"ref", exact and repeatable), their checkpoints, a fine-tuned sequence head, and CLI helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.vep.conftest import random_seq, run_cli, write_fasta

__all__ = ["cli_error", "random_seq", "run_cli", "tiny_model", "write_fasta"]

DESIGNS = {  # name -> ModelConfig fields
    "head": {"fusion": "head"},
    "layer": {"fusion": "layer"},
    "ps": {"fusion": "layer", "rc": "ps"},
    "posthoc": {"fusion": "layer", "rc": "posthoc"},
}


def tiny_model(design: str = "head", seed: int = 0, backend: str = "ref"):
    import torch

    from genomamba.model import GenomambaModel, ModelConfig

    torch.manual_seed(seed)
    return GenomambaModel(ModelConfig(d_model=16, n_layer=2, backend=backend, **DESIGNS[design])).eval()


def cli_error(*args: str) -> str:
    """Run a command that must fail on its input: exit 2, exactly one line on stderr, no traceback (``-q``: info
    logging off, so stderr holds only what the error prints)."""
    r = run_cli("-q", *args, check=False)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


@pytest.fixture(scope="session")
def genome_seqs() -> dict[str, str]:
    seqs = {"chrA": random_seq(2500, 11), "chrB": random_seq(900, 12)}
    seqs["chrB"] = seqs["chrB"][:300] + "N" * 40 + seqs["chrB"][340:]  # an N run: tracks leave a gap there
    return seqs


@pytest.fixture(scope="session")
def fasta(tmp_path_factory, genome_seqs) -> Path:
    return write_fasta(tmp_path_factory.mktemp("ref") / "ref.fa", genome_seqs)


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ckpt")
    out = {}
    for design in DESIGNS:
        tiny_model(design).save_pretrained(root / design)
        out[design] = root / design
    return out


@pytest.fixture(scope="session")
def seq_head_checkpoint(tmp_path_factory) -> Path:
    """A 'fine-tuned' binary sequence head (random weights) with the metadata genomamba finetune writes."""
    import torch

    from genomamba.model import GenomambaForSequence, HeadConfig

    torch.manual_seed(3)
    net = GenomambaForSequence(tiny_model("head", seed=3), HeadConfig(kind="sequence", n_outputs=1)).eval()
    path = tmp_path_factory.mktemp("ckpt") / "seqhead"
    meta = {"task": "binary", "classes": ["0", "1"], "target_mean": 0.0, "target_std": 1.0}
    net.save_pretrained(path, extra={"finetune": meta})
    return path


@pytest.fixture
def table(tmp_path) -> Path:
    rng = np.random.default_rng(5)
    rows = ["sequence,name"] + [f"{random_seq(int(n), 100 + i)},s{i}" for i, n in enumerate(rng.integers(20, 90, 7))]
    path = tmp_path / "seqs.csv"
    path.write_text("\n".join(rows) + "\n")
    return path
