"""Batches of variable-length token arrays: right-padding with [PAD] and length-sorted index batches.

The model treats [PAD] as a sequence boundary (``model/segments.py``), so a padded row scores exactly as it would
alone; sorting by length only keeps the padding (wasted compute) small. Every stage that batches sequences for the
model (fine-tuning, prediction, variant scoring) uses these two functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from genomamba.alphabet import PAD


def pad_batch(tokens: Sequence[np.ndarray]) -> torch.Tensor:
    """Right-pad uint8 token arrays of lengths L_i with [PAD] -> (B, max L_i) int64."""
    length = max(t.size for t in tokens)
    out = np.full((len(tokens), length), PAD, dtype=np.int64)
    for i, t in enumerate(tokens):
        out[i, : t.size] = t
    return torch.from_numpy(out)


def length_batches(tokens: Sequence[np.ndarray], batch_size: int) -> list[np.ndarray]:
    """Index batches of at most ``batch_size`` rows of similar length (stable sort by length), so padding is small."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = np.argsort([t.size for t in tokens], kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
