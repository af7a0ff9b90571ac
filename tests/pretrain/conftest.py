"""A small synthetic genome turned into a real windows directory by ``genomamba windows``' library call."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

MODEL_YAML = """\
d_model: 16
n_layer: 2
d_state: 4
fusion: head
rc: none
backend: ref
"""


def _genome(rng: np.random.Generator, length: int) -> str:
    # a Markov-ish sequence with repeated motifs (learnable), lowercase repeats and an N run
    motifs = ["ACGTTGCA", "TTTAAACCCGGG", "GATTACA"]
    parts, n = [], 0
    while n < length:
        if rng.random() < 0.3:
            s = motifs[rng.integers(len(motifs))] * int(rng.integers(1, 4))
            s = s.lower() if rng.random() < 0.5 else s
        else:
            s = "".join(rng.choice(list("ACGT"), size=int(rng.integers(5, 30)), p=[0.3, 0.2, 0.2, 0.3]))
        parts.append(s)
        n += len(s)
    seq = "".join(parts)[:length]
    return seq[:5000] + "N" * 300 + seq[5300:]


@pytest.fixture(scope="session")
def windows_dir(tmp_path_factory) -> Path:
    from genomamba.genome.windows import WindowsConfig, build_windows

    root = tmp_path_factory.mktemp("pretrain_data")
    rng = np.random.default_rng(0)
    fasta = root / "synth.fa"
    with open(fasta, "w") as fh:
        for name, length in (("chrA", 40000), ("chrB", 24000)):
            seq = _genome(rng, length)
            fh.write(f">{name}\n" + "\n".join(seq[i : i + 60] for i in range(0, len(seq), 60)) + "\n")
    out = root / "windows"
    build_windows(fasta, out, WindowsConfig(window_size=2048, min_tail=512, val_frac=0.15, test_frac=0.15))
    return out


@pytest.fixture(scope="session")
def model_yaml(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pretrain_model") / "micro.yaml"
    path.write_text(MODEL_YAML)
    return path


@pytest.fixture(scope="session")
def fast_overrides(model_yaml: Path) -> list[str]:
    """A seconds-long run: micro model, 64-bp crops, few steps."""
    return [
        f"model_config={model_yaml}",
        "data.seq_len=128",
        "data.warmup_stages=[{seq_len: 64, steps: 2}]",
        "data.tokens_per_micro_batch=512",
        "data.max_eval_tiles=8",
        "trainer.max_steps=6",
        "trainer.val_every_steps=3",
        "trainer.ckpt_every_steps=2",
        "trainer.log_every_steps=1",
        "optim.warmup_steps=2",
        "baselines.one_sided_orders=[0, 2]",
        "baselines.two_sided_orders=[1]",
    ]


def _write_fasta(path: Path, records: dict[str, str]) -> Path:
    with open(path, "w") as fh:
        for name, seq in records.items():
            fh.write(f">{name}\n" + "\n".join(seq[i : i + 60] for i in range(0, len(seq), 60)) + "\n")
    return path


def mutate(seq: str, rate: float, rng: np.random.Generator) -> str:
    """``seq`` with a fraction ``rate`` of its bases substituted (a synthetic close relative)."""
    arr = np.frombuffer(seq.encode(), dtype=np.uint8).copy()
    hit = np.flatnonzero(rng.random(arr.size) < rate)
    arr[hit] = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, hit.size)]
    return arr.tobytes().decode()


@pytest.fixture(scope="session")
def genome_dirs(tmp_path_factory) -> dict[str, Path]:
    """Three windows directories of different sizes: ``big`` (48 kb), ``mid`` (24 kb) and ``small`` (12 kb), and
    ``relative``: ``big`` with 3 % of its bases substituted (same coordinates, so its windows line up with
    ``big``'s)."""
    from genomamba.genome.windows import WindowsConfig, build_windows

    root = tmp_path_factory.mktemp("multi_genome")
    rng = np.random.default_rng(1)
    seqs = {"big": _genome(rng, 48000), "mid": _genome(rng, 24000), "small": _genome(rng, 12000)}
    seqs["relative"] = mutate(seqs["big"], 0.03, rng)
    cfg = WindowsConfig(window_size=2048, min_tail=512, val_frac=0.15, test_frac=0.15)
    out = {}
    for name, seq in seqs.items():
        fasta = _write_fasta(root / f"{name}.fa", {f"{name}_chr": seq})
        out[name] = root / name
        build_windows(fasta, out[name], dataclasses.replace(cfg, seed=5) if name == "relative" else cfg)
    return out
