"""Sequence-boundary helpers: ``seq_idx`` (B, L) says which packed sequence (or padding run) holds a position.

A boundary is wherever ``seq_idx`` changes between neighbouring positions (the same rule the scan op uses), so
labels need not be unique: ``[0, 0, 1, 0, 0]`` is three segments.
"""

from __future__ import annotations

import torch

from genomamba.alphabet import PAD


def segment_ids(seq_idx: torch.Tensor) -> torch.Tensor:
    """(B, L) -> (B, L) int64 non-decreasing segment number: 0 at p=0, +1 at every change of ``seq_idx``."""
    change = torch.zeros_like(seq_idx, dtype=torch.int64)
    change[:, 1:] = (seq_idx[:, 1:] != seq_idx[:, :-1]).to(torch.int64)
    return change.cumsum(dim=1)


def segment_starts(seq_idx: torch.Tensor | None, batch: int, length: int, device) -> torch.Tensor:
    """(B, L) bool, True where a position has no left neighbour in its own segment."""
    starts = torch.zeros(batch, length, dtype=torch.bool, device=device)
    starts[:, 0] = True
    if seq_idx is not None:
        starts[:, 1:] |= seq_idx[:, 1:] != seq_idx[:, :-1]
    return starts


def segment_ends(seq_idx: torch.Tensor | None, batch: int, length: int, device) -> torch.Tensor:
    """(B, L) bool, True where a position has no right neighbour in its own segment."""
    ends = torch.zeros(batch, length, dtype=torch.bool, device=device)
    ends[:, -1] = True
    if seq_idx is not None:
        ends[:, :-1] |= seq_idx[:, 1:] != seq_idx[:, :-1]
    return ends


def with_padding_boundaries(input_ids: torch.Tensor, seq_idx: torch.Tensor | None) -> torch.Tensor | None:
    """Split segments at [PAD] runs so padding never leaks into real bases, in either scan direction.

    Returns ``seq_idx`` unchanged when there is no padding (None stays None: the fast unsegmented path).
    """
    is_pad = input_ids == PAD
    if not bool(is_pad.any()):
        return seq_idx
    base = torch.zeros_like(input_ids, dtype=torch.int64) if seq_idx is None else seq_idx.to(torch.int64)
    return base * 2 + is_pad.to(torch.int64)
