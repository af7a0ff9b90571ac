"""Fusion "head": one causal stack over both strands, combined only in the output head.

For position p the head reads
  left[p]  = forward-strand state after x[<p]      = h_fwd[p - 1]
  right[p] = reverse-strand state after x[>p]      = h_rev[L - 2 - p]   (the RC stream runs over rc(x))
and never x[p], so every position is a training target and all L x 4 conditionals come out of one pass.
Positions with no left (right) neighbour in their segment read a learned start state instead.

RC equivariance is exact by construction: reverse-complementing x swaps the two streams and mirrors positions,
so left and right trade places; the head is symmetrised,
``logits(l, r) = u(l, r) + complement(u(r, l))``, hence ``logits(rc(x)) == rc_logits(logits(x))``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from genomamba.model.config import ModelConfig
from genomamba.model.mixer import project
from genomamba.model.segments import segment_ends, segment_starts


class FusionHead(nn.Module):
    def __init__(self, config: ModelConfig, complement: torch.Tensor):
        super().__init__()
        d = config.d_model
        self.start = nn.Parameter(torch.zeros(d))  # state for "no context on this side" (zero at init)
        self.fc1 = nn.Linear(2 * d, 2 * d)
        self.fc2 = nn.Linear(2 * d, d)
        self.register_buffer("complement", complement, persistent=False)
        self.cpu_bf16 = config.cpu_bf16  # bf16 linears on CPU tensors (gelu and the output stay fp32)

    chunk = 65536  # positions per head evaluation: the head is position-wise, so long windows go in slices

    def context(
        self, h_fwd: torch.Tensor, h_rev_flipped: torch.Tensor, seq_idx: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """h_fwd: (B, L, d) stack output on x; h_rev_flipped: (B, L, d) stack output on rc(x), flipped back to
        x's coordinates (position p has read x[>=p]). Returns left, right: (B, L, d) with x[p] excluded."""
        B, L, _ = h_fwd.shape
        starts, ends = self._edges(seq_idx, B, L, h_fwd.device)
        return self._context_slice(h_fwd, h_rev_flipped, starts, ends, 0, L)

    def forward(
        self,
        h_fwd: torch.Tensor,
        h_rev_flipped: torch.Tensor,
        seq_idx: torch.Tensor | None,
        embedding_weight: torch.Tensor,
        checkpointing: bool = False,
    ) -> torch.Tensor:
        """Stream outputs (B, L, d) each -> logits (B, L, V), evaluated ``chunk`` positions at a time (with
        ``checkpointing`` each slice is recomputed in backward, so the head's (2B, chunk, 2d) intermediates
        are the only ones alive at any time)."""
        B, L, _ = h_fwd.shape
        starts, ends = self._edges(seq_idx, B, L, h_fwd.device)
        outs = []
        for lo in range(0, L, self.chunk):
            hi = min(L, lo + self.chunk)
            args = (h_fwd, h_rev_flipped, starts, ends, embedding_weight, lo, hi)
            outs.append(checkpoint(self._slice_logits, *args, use_reentrant=False) if checkpointing else
                        self._slice_logits(*args))  # fmt: skip
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    def logits(self, left: torch.Tensor, right: torch.Tensor, embedding_weight: torch.Tensor) -> torch.Tensor:
        """left, right: (B, l, d); embedding_weight: (V, d) tied output layer. Returns logits (B, l, V)."""
        pairs = torch.cat([torch.cat([left, right], -1), torch.cat([right, left], -1)], 0)  # (2B, l, 2d)
        bf16 = self.cpu_bf16 and pairs.device.type == "cpu"
        hid = F.gelu(project(self.fc1, pairs, bf16))
        u = project(lambda t: F.linear(self.fc2(t), embedding_weight), hid, bf16)  # (2B, l, V)
        u_lr, u_rl = u.chunk(2, dim=0)
        return u_lr + u_rl[..., self.complement.to(u.device)[: u.shape[-1]]]

    @staticmethod
    def _edges(seq_idx, B, L, device) -> tuple[torch.Tensor, torch.Tensor]:
        return segment_starts(seq_idx, B, L, device), segment_ends(seq_idx, B, L, device)

    def _context_slice(self, h_fwd, h_rev_flipped, starts, ends, lo: int, hi: int):
        """left, right (B, hi - lo, d) for positions [lo, hi)."""
        L = h_fwd.shape[1]
        start = self.start.to(h_fwd.dtype)
        left = h_fwd[:, max(lo - 1, 0) : hi - 1]  # left[p] = h_fwd[p - 1]
        if lo == 0:
            left = F.pad(left, (0, 0, 1, 0))
        right = h_rev_flipped[:, lo + 1 : min(hi + 1, L)]  # right[p] = h_rev_flipped[p + 1]
        if hi == L:
            right = F.pad(right, (0, 0, 0, 1))
        return (
            torch.where(starts[:, lo:hi, None], start, left),
            torch.where(ends[:, lo:hi, None], start, right),
        )

    def _slice_logits(self, h_fwd, h_rev_flipped, starts, ends, embedding_weight, lo: int, hi: int):
        left, right = self._context_slice(h_fwd, h_rev_flipped, starts, ends, lo, hi)
        return self.logits(left, right, embedding_weight)
