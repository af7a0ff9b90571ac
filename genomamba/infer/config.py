"""Settings of the inference commands (``embed``, ``probe``, ``track``, ``ism``): the one home of their defaults
and bounds. Light on purpose (no torch), so the CLI can show defaults in ``--help`` without loading the model code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from genomamba.infer.device import check_device_name

Strands = Literal["forward", "average", "concat"]
Pooling = Literal["mean", "center", "none"]
STRANDS: tuple[str, ...] = get_args(Strands)
POOLINGS: tuple[str, ...] = get_args(Pooling)


@dataclass
class EmbedConfig:
    layer: int = -1  # hidden state after block k (0 = embedding, -1 = the final-norm output heads read)
    pooling: Pooling = "mean"  # "none": per-token features (.npy output)
    strands: Strands = "average"  # average: RC-invariant features
    batch_size: int = 32  # sequences per forward pass (similar lengths batched together)
    chunk_rows: int = 1024  # input rows held at once (bounds memory)
    flank: int = 0  # interval inputs: context bases added on each side
    dtype: Literal["float32", "float16"] = "float32"  # stored precision of .npy features
    device: str = "auto"
    threads: int = 0  # torch threads; 0 = leave the default

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS or self.strands not in STRANDS:
            raise ValueError(f"pooling must be {'|'.join(POOLINGS)} and strands {'|'.join(STRANDS)}")
        if self.batch_size < 1 or self.chunk_rows < 1:
            raise ValueError("batch_size and chunk_rows must be >= 1")
        if self.flank < 0 or self.threads < 0:
            raise ValueError("flank and threads must be >= 0")
        check_device_name(self.device)
