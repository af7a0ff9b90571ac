"""Synthetic labeled data for the fine-tuning tests: a planted-motif classification task, a GC regression task,
a small FASTA + GFF3 with known TSSs and introns, and a micro model config (fast on 2 CPU cores)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

MOTIF = "GATTACAGATTACA"


def random_seq(rng: np.random.Generator, n: int, gc: float = 0.5) -> str:
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return "".join(rng.choice(list("ACGT"), size=n, p=p))


def motif_rows(rng: np.random.Generator, n: int, length: tuple[int, int] = (30, 48)) -> list[tuple[str, int]]:
    """Half the rows carry MOTIF at a random position (label 1); lengths vary so batches need padding."""
    rows = []
    for i in range(n):
        seq = random_seq(rng, int(rng.integers(*length)))
        label = i % 2
        if label:
            at = int(rng.integers(0, len(seq) - len(MOTIF)))
            seq = seq[:at] + MOTIF + seq[at + len(MOTIF) :]
        rows.append((seq, label))
    return rows


def write_csv(path: Path, rows, header=("sequence", "label"), gz: bool = False) -> Path:
    text = ",".join(header) + "\n" + "".join(",".join(str(x) for x in r) + "\n" for r in rows)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.fixture
def motif_dir(tmp_path: Path) -> Path:
    """GUE-style directory: train.csv.gz, dev.csv, test.csv with the planted-motif task."""
    rng = np.random.default_rng(0)
    d = tmp_path / "motif"
    d.mkdir()
    write_csv(d / "train.csv.gz", motif_rows(rng, 64), gz=True)
    write_csv(d / "dev.csv", motif_rows(rng, 24))
    write_csv(d / "test.csv", motif_rows(rng, 24))
    return d


@pytest.fixture
def micro_model(tmp_path: Path) -> Path:
    """A ModelConfig YAML small enough for the reference scan backend in a unit test."""
    path = tmp_path / "micro.yaml"
    path.write_text("d_model: 8\nn_layer: 1\nd_state: 4\nexpand: 2\nfusion: layer\nbackend: ref\n")
    return path


@pytest.fixture
def toy_genome(tmp_path: Path) -> tuple[Path, Path, str]:
    """chrA (6 kb) with two genes: g1 on + (exons 1000-1200, 1500-1800) and g2 on - (exons 4000-4300,
    4600-4900), splice sites with canonical GT/AG; returns (fasta, gff3, sequence of chrA)."""
    rng = np.random.default_rng(1)
    seq = list(random_seq(rng, 6000))
    # + strand intron [1200, 1500): GT at 1200, AG at 1498..1499
    seq[1200:1202], seq[1498:1500] = "GT", "AG"
    # - strand intron [4300, 4600): on the minus strand it reads GT...AG -> forward: CT at 4300, AC at 4598
    seq[4300:4302], seq[4598:4600] = "CT", "AC"
    chrom = "".join(seq)
    fasta = tmp_path / "toy.fa"
    fasta.write_text(">chrA\n" + "\n".join(chrom[i : i + 60] for i in range(0, len(chrom), 60)) + "\n")
    gff = tmp_path / "toy.gff3"
    gff.write_text(
        "##gff-version 3\n"
        "chrA\tt\tgene\t1001\t1800\t.\t+\t.\tID=g1\n"
        "chrA\tt\tmRNA\t1001\t1800\t.\t+\t.\tID=t1;Parent=g1\n"
        "chrA\tt\texon\t1001\t1200\t.\t+\t.\tParent=t1\n"
        "chrA\tt\texon\t1501\t1800\t.\t+\t.\tParent=t1\n"
        "chrA\tt\tgene\t4001\t4900\t.\t-\t.\tID=g2\n"
        "chrA\tt\tmRNA\t4001\t4900\t.\t-\t.\tID=t2;Parent=g2\n"
        "chrA\tt\texon\t4001\t4300\t.\t-\t.\tParent=t2\n"
        "chrA\tt\texon\t4601\t4900\t.\t-\t.\tParent=t2\n"
    )
    return fasta, gff, chrom
