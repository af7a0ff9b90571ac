"""Multi-head self-attention mixer (SDPA: flash or memory-efficient kernels where torch has them) with rotary
position embeddings, for hybrid stacks (a few attention layers among SSM layers, as Jamba / HybriDNA).

* ``causal=True`` for fusion "head" stacks (position p reads x[<=p], like the causal SSM mixers);
  bidirectional for fusion "layer".
* ``seq_idx`` segments never attend to each other (packing and padding do not leak, in either direction).
* ``attn_window``: local attention, |query - key| < window. It runs query block by query block against the
  keys in reach, with the mask built per block, so memory is O(L * window) and long windows stay linear in L.
* Full attention (no window) needs the (L x L) scores; at lengths where they cannot fit it is refused with a
  ``GenomambaError`` that names the length and the fix, instead of failing deep inside an allocation.

Rotary embeddings make the scores depend only on query - key offsets, so outputs do not change when a
sequence is shifted by padding or packing.
"""

from __future__ import annotations

import math
import os

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from genomamba.errors import GenomambaError
from genomamba.model.config import ModelConfig
from genomamba.model.segments import segment_ids

ROPE_BASE = 10000.0
# windowed attention under autograd: above this many bytes of kept probabilities + masks (fp32 + bool per
# query-key pair in reach), query blocks are recomputed in backward instead of kept
RECOMPUTE_BYTES = 1 << 30
QUERY_BLOCK_MAX = 4096  # query positions per block of windowed attention (a block is max(window, 64) up to this)


def rotary(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """x: (B, H, L, hd) with hd even; positions: (L,). Rotates channel pairs (i, i + hd/2) by pos * freq_i."""
    half = x.shape[-1] // 2
    freq = ROPE_BASE ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)
    angle = positions.to(torch.float32)[:, None] * freq  # (L, half)
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def available_bytes(device: torch.device) -> int:
    """Free memory on ``device``: CUDA's free bytes, or MemAvailable of the host."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            return next(int(ln.split()[1]) * 1024 for ln in fh if ln.startswith("MemAvailable"))
    except (OSError, StopIteration):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def check_scores_fit(batch: int, heads: int, length: int, device: torch.device) -> None:
    """Refuse full attention when one fp32 (batch, heads, L, L) score tensor exceeds half of the free memory."""
    need = batch * heads * length * length * 4
    free = available_bytes(device)
    if need > free // 2:
        raise GenomambaError(
            f"full attention at length {length:,} needs {need / 2**30:,.1f} GiB for its (L x L) scores "
            f"({batch} x {heads} heads; {free / 2**30:,.1f} GiB free); set model.attn_window (a local attention "
            "window, e.g. attn_window=4096) to run attention layers at this length"
        )


def block_mask(q_pos, k_pos, seg, causal: bool, window: int | None) -> torch.Tensor:
    """Allowed (query, key) pairs: (B, 1, q, k) bool. q_pos (q,), k_pos (k,) positions; seg (B, L) or None."""
    diff = q_pos[:, None] - k_pos[None, :]  # (q, k): query - key
    allowed = torch.ones_like(diff, dtype=torch.bool)
    if causal:
        allowed &= diff >= 0
    if window is not None:
        allowed &= diff.abs() < window
    allowed = allowed[None, None]
    if seg is not None:
        allowed = allowed & (seg[:, None, q_pos, None] == seg[:, None, None, k_pos])
    return allowed


class AttentionMixer(nn.Module):
    def __init__(self, config: ModelConfig, causal: bool):
        super().__init__()
        d = config.d_model
        self.n_heads, self.head_dim = config.attn_n_heads, d // config.attn_n_heads
        self.window, self.causal = config.attn_window, causal
        self.qkv = nn.Linear(d, 3 * d, bias=config.bias)
        self.out_proj = nn.Linear(d, d, bias=config.bias)
        with torch.no_grad():
            for lin in (self.qkv, self.out_proj):
                if lin.bias is not None:
                    lin.bias.zero_()
            if config.rescale_prenorm_residual:
                self.out_proj.weight /= math.sqrt(config.n_layer)  # residual-branch outputs shrink with depth

    def forward(self, hidden: torch.Tensor, seq_idx: torch.Tensor | None = None) -> torch.Tensor:
        """hidden: (B, L, d_model); seq_idx: (B, L) or None. Returns (B, L, d_model)."""
        batch, length, d = hidden.shape
        full = self.window is None or self.window >= length
        if full:  # before any work: the refusal must come before the allocations it predicts
            check_scores_fit(batch, self.n_heads, length, hidden.device)
        q, k, v = self.qkv(hidden).view(batch, length, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        positions = torch.arange(length, device=hidden.device)
        q, k = rotary(q, positions), rotary(k, positions)  # (B, H, L, hd)
        seg = None if seq_idx is None else segment_ids(seq_idx)
        out = self._full(q, k, v, seg) if full else self._windowed(q, k, v, seg)
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, d))

    def _full(self, q, k, v, seg) -> torch.Tensor:
        length = q.shape[2]
        if seg is None and self.window is None:
            return F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        positions = torch.arange(length, device=q.device)
        mask = block_mask(positions, positions, seg, self.causal, self.window)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    def _windowed(self, q, k, v, seg) -> torch.Tensor:
        """Query blocks of ``window`` positions against the keys within reach: (block x (block + 2 window))
        scores at a time. Every query sees at least itself, so no row of the mask is empty.

        Under autograd, SDPA with a mask keeps each block's probabilities and mask for the backward pass:
        batch x heads x L x (block + 2 window) values in all, 64 GiB for one 1 Mbp sequence at window 2048.
        Above ``RECOMPUTE_BYTES`` of those, each block is checkpointed instead (its output is recomputed from the
        q/k/v views in backward, one block at a time), so training memory stays O(L * d)."""
        batch, heads, length, _ = q.shape
        w = self.window
        qb = min(max(w, 64), QUERY_BLOCK_MAX)
        span = qb + (w - 1) * (1 if self.causal else 2)
        recompute = torch.is_grad_enabled() and q.requires_grad and batch * heads * length * span * 5 > RECOMPUTE_BYTES
        # q, k, v split once into disjoint qb-blocks (views); a query block reads the key blocks its window reaches.
        # Slicing whole tensors per block would make autograd build a full-length zero gradient per block and
        # slice (O(L^2 / qb) memory traffic); with pieces, gradients stay block-sized until one final concatenation
        qs, ks, vs = (t.split(qb, dim=2) for t in (q, k, v))
        outs = []  # concatenated once: writing blocks into one buffer would copy it per block in backward
        for i, q0 in enumerate(range(0, length, qb)):
            q1 = min(length, q0 + qb)
            k0, k1 = max(0, q0 - w + 1), q1 if self.causal else min(length, q1 + w - 1)
            j0, j1 = k0 // qb, (k1 - 1) // qb + 1
            args = (qs[i], seg, q0, q1, k0, k1, j0 * qb, j1 - j0, *ks[j0:j1], *vs[j0:j1])
            if recompute:
                outs.append(checkpoint(self._block, *args, use_reentrant=False))
            else:
                outs.append(self._block(*args))
        return torch.cat(outs, dim=2)

    def _block(self, q, seg, q0: int, q1: int, k0: int, k1: int, base: int, n: int, *kv) -> torch.Tensor:
        """Queries [q0, q1) (q: that block) against keys [k0, k1) with the window/causal/segment mask; ``kv``: the
        ``n`` key blocks then the ``n`` value blocks covering [base, ...). Returns (B, H, q1 - q0, hd)."""
        k = kv[0] if n == 1 else torch.cat(kv[:n], dim=2)
        v = kv[n] if n == 1 else torch.cat(kv[n:], dim=2)
        q_pos = torch.arange(q0, q1, device=q.device)
        k_pos = torch.arange(k0, k1, device=q.device)
        mask = block_mask(q_pos, k_pos, seg, self.causal, self.window)
        a, b = k0 - base, k1 - base
        return F.scaled_dot_product_attention(q, k[:, :, a:b], v[:, :, a:b], attn_mask=mask)
