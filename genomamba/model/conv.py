"""Depthwise causal conv1d that respects sequence boundaries, in either direction.

Forward:  out[t] = bias + sum_k w[k] * x[t - (K-1-k)]   (taps from the past, as mamba-ssm's causal conv)
Reverse:  out[t] = bias + sum_k w[k] * x[t + (K-1-k)]   (= flip -> forward conv -> flip, without the copies)
A tap is dropped when it falls outside [0, L) or in another segment of ``seq_idx``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genomamba.model.segments import segment_ids


def causal_conv1d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    seq_idx: torch.Tensor | None = None,
    reverse: bool = False,
) -> torch.Tensor:
    """x: (B, D, L); weight: (D, K); bias: (D,) or None; seq_idx: (B, L) or None. Returns (B, D, L)."""
    D, K = weight.shape
    L = x.shape[-1]
    weight = weight.to(x.dtype)
    bias = None if bias is None else bias.to(x.dtype)
    if seq_idx is None:
        # fast path: one library conv over a zero-padded copy
        if reverse:
            return F.conv1d(F.pad(x, (0, K - 1)), weight.flip(-1).unsqueeze(1), bias, groups=D)
        return F.conv1d(F.pad(x, (K - 1, 0)), weight.unsqueeze(1), bias, groups=D)
    seg = segment_ids(seq_idx)  # (B, L) non-decreasing
    out = x * weight[:, K - 1, None]  # tap at distance 0
    for s in range(1, min(K, L)):
        if reverse:  # x[t + s], same segment iff seg[t + s] == seg[t]
            shifted = F.pad(x[..., s:], (0, s))
            same = F.pad(seg[:, s:] == seg[:, :-s], (0, s), value=False)
        else:  # x[t - s]
            shifted = F.pad(x[..., :-s], (s, 0))
            same = F.pad(seg[:, s:] == seg[:, :-s], (s, 0), value=False)
        out = out + shifted * same[:, None, :].to(x.dtype) * weight[:, K - 1 - s, None]
    if bias is not None:
        out = out + bias[:, None]
    return out
