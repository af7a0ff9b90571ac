"""Depthwise causal conv1d that respects sequence boundaries, in either direction, in (B, L, D) layout.

Forward:  out[t] = bias + sum_k w[k] * x[t - (K-1-k)]   (taps from the past, as mamba-ssm's causal conv)
Reverse:  out[t] = bias + sum_k w[k] * x[t + (K-1-k)]   (= flip -> forward conv -> flip, without the copies)
A tap is dropped when it falls outside [0, L) or in another segment of ``seq_idx``.

Computed as K shifted multiply-adds over the channels-last input (a view of in_proj's output): no padded or
transposed copy of the sequence, which at long lengths costs more than the arithmetic. ``conv_silu`` is the
mixer's step (conv then SiLU on the x half of in_proj's output); on fp32 CPU tensors it runs the fused C++
kernel (``genomamba_kernels.cpu_conv``: one pass forward, one backward, nothing saved but the input).
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
    """x: (B, L, D) (any strides); weight: (D, K); bias: (D,) or None; seq_idx: (B, L) or None.
    Returns a new contiguous (B, L, D) tensor."""
    K = weight.shape[1]
    L = x.shape[1]
    weight = weight.to(x.dtype)
    # tap at distance 0 (and the bias) in one pass
    out = x * weight[:, K - 1] if bias is None else torch.addcmul(bias.to(x.dtype), x, weight[:, K - 1])
    seg = None if seq_idx is None else segment_ids(seq_idx)  # (B, L) non-decreasing
    for s in range(1, min(K, L)):
        w = weight[:, K - 1 - s]
        # forward: out[t] += w * x[t - s]; reverse: out[t] += w * x[t + s]
        dst, src = (out[:, : L - s], x[:, s:]) if reverse else (out[:, s:], x[:, : L - s])
        if seg is not None:
            same = (seg[:, s:] == seg[:, : L - s]).unsqueeze(-1)  # (B, L - s, 1): both ends in one segment
            src = src * same.to(x.dtype)
        dst.addcmul_(src, w)
    return out


def conv_silu(
    xz: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    seq_idx: torch.Tensor | None = None,
    reverse: bool = False,
    fused: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """xz: (B, L, 2 * D) in_proj output (x then z); weight (D, K). Returns (silu(conv(x)) (B, L, D), z view).
    ``fused``: use the C++ kernel when xz is an fp32 CPU tensor with channel stride 1 (else PyTorch ops)."""
    nx = weight.shape[0]
    if fused and xz.device.type == "cpu" and xz.dtype == torch.float32 and xz.stride(-1) == 1:
        from genomamba_kernels.cpu_conv import conv_silu_split

        return conv_silu_split(xz, weight, bias, nx, seq_idx=seq_idx, reverse=reverse)
    x, z = xz[..., :nx], xz[..., nx:]
    return F.silu(causal_conv1d(x, weight, bias, seq_idx=seq_idx, reverse=reverse)), z
