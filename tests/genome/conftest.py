"""Tiny FASTA fixtures written per test (plain and BGZF), and an isolated index cache."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("GENOMAMBA_SHARED_DATA", ROOT.parent / "shared" / "data"))
FLY4_FASTA = ("references", "DmelanDM6_4_GCF_000001215.4_Release_6_plus_ISO1_MT_genomic.fna.gz")


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data (as in tests/conftest.py), or a clean skip when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own index cache, so nothing is written to ~/.cache and cache hits are explicit."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("GENOMAMBA_CACHE_DIR", str(cache))
    return cache


def random_genome(seed: int = 0, lengths=(25_000, 7_000, 1_234), names=("chr1", "chr2", "chrM")) -> dict[str, str]:
    """Sequences with soft-masked runs, N gaps and IUPAC codes, as {name: str}."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, n in zip(names, lengths):
        seq = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, n)].copy()
        for _ in range(max(1, n // 2000)):  # soft-masked runs
            a = int(rng.integers(0, n))
            seq[a : a + int(rng.integers(10, 400))] |= 0x20
        if n > 5000:  # one N gap and a few ambiguity codes
            a = int(rng.integers(0, n - 1500))
            seq[a : a + 1000] = ord("N")
            seq[rng.integers(0, n, 5)] = np.frombuffer(b"RYKMn", np.uint8)
        out[name] = seq.tobytes().decode()
    return out


def write_fasta(path: Path, seqs: dict[str, str], width: int = 60, newline: str = "\n") -> Path:
    with open(path, "w", newline="") as fh:
        for name, seq in seqs.items():
            fh.write(f">{name} test sequence{newline}")
            for i in range(0, len(seq), width):
                fh.write(seq[i : i + width] + newline)
    return path


def write_bgzf(path: Path, seqs: dict[str, str], width: int = 60) -> Path:
    from Bio import bgzf

    plain = write_fasta(path.with_suffix(".plain.tmp"), seqs, width)
    with bgzf.BgzfWriter(str(path), "wb") as out:
        out.write(plain.read_bytes())
    plain.unlink()
    return path


@pytest.fixture
def genome_seqs() -> dict[str, str]:
    return random_genome()


@pytest.fixture
def plain_fasta(tmp_path, genome_seqs) -> Path:
    (tmp_path / "plain").mkdir()
    return write_fasta(tmp_path / "plain" / "genome.fa", genome_seqs)


@pytest.fixture
def bgzf_fasta(tmp_path, genome_seqs) -> Path:
    (tmp_path / "bgzf").mkdir()
    return write_bgzf(tmp_path / "bgzf" / "genome.fa.gz", genome_seqs)


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory made read-only (a-w); restored afterwards so tmp_path can be cleaned."""
    folder = tmp_path / "ro"
    folder.mkdir()

    def freeze():
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)

    yield folder, freeze
    folder.chmod(0o755)


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))
