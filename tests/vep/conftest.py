"""Fixtures for variant scoring: a small random genome (plain FASTA, with its reverse-complemented twin), VCF
writing helpers, and tiny deterministic models (backend "ref": the reference scan, exact and repeatable)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from genomamba.alphabet import decode, encode, reverse_complement
from tests import helpers

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("GENOMAMBA_SHARED_DATA", ROOT.parent / "shared" / "data"))
HEADER = "##fileformat=VCFv4.2\n"
COLUMNS = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data, or a clean skip when the shared data is not beside the checkout."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


def random_seq(n: int, seed: int) -> str:
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), n))


def rc_text(seq: str) -> str:
    return decode(reverse_complement(encode(seq)))


def write_fasta(path: Path, contigs: dict[str, str], width: int = 60) -> Path:
    with open(path, "w") as fh:
        for name, seq in contigs.items():
            fh.write(f">{name}\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i : i + width] + "\n")
    return path


def write_vcf(path: Path, records: list[str], contigs: dict[str, int] | None = None, info: str = "") -> Path:
    """records: tab-separated 8-column lines (no newline)."""
    lines = [HEADER]
    for name, length in (contigs or {}).items():
        lines.append(f"##contig=<ID={name},length={length}>\n")
    lines.append(info)
    lines.append(COLUMNS)
    lines += [r + "\n" for r in records]
    path.write_text("".join(lines))
    return path


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``tests.helpers.run_cli`` from the repository root with a minimal environment, checked by default."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    return helpers.run_cli(*args, check=check, timeout=None, cwd=ROOT, env=env)


@pytest.fixture(scope="session")
def genome_seqs() -> dict[str, str]:
    # FASTA names "1" and "MT" so that VCF names chr1 / chrM exercise the alias resolution
    return {"1": random_seq(3001, 1), "MT": random_seq(700, 2)}


@pytest.fixture(scope="session")
def fasta(tmp_path_factory, genome_seqs) -> Path:
    return write_fasta(tmp_path_factory.mktemp("ref") / "ref.fa", genome_seqs)


def tiny_model(fusion: str, seed: int = 0):
    import torch

    from genomamba.model import GenomambaModel, ModelConfig

    torch.manual_seed(seed)
    return GenomambaModel(ModelConfig(d_model=16, n_layer=2, fusion=fusion, backend="ref")).eval()


@pytest.fixture(scope="session")
def head_checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "head"
    tiny_model("head").save_pretrained(path)
    return path
