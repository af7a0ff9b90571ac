"""CPU path for the SSD scan: the chunked matrix form, streamed in blocks, behind a ``torch.autograd.Function``.

Within a chunk of T positions everything is a batched matrix product (MKL/oneDNN GEMMs), and exps are taken
only per (position, head) and per (T x T) chunk pair, never per state element:

    CB     = C B^T                                   (T x T per chunk and group)
    y_in   = (CB o L o dt_s) x                       (intra-chunk; L[t, s] = exp(S_t - S_s), s <= t, same segment)
    local  = (x o w)^T B                             (chunk-local final state, headdim x state per head)
    h_in   = Dec local + decay * h0                  (states entering each chunk: a (chunks x chunks) product)
    y_out  = exp(S_t) (C h_in^T)                     (inter-chunk)

The sequence is processed in blocks of ``block`` positions (a whole number of chunks); the state is carried
from block to block. Forward saves only the inputs and the state at every block start
(batch * heads * headdim * state floats per block), so memory is O(batch * length * heads * headdim) plus those
states: nothing of size (length, heads, headdim, state) exists, and the (T x T) scores exist for one block at
a time. Backward walks the blocks in reverse, recomputes each from its saved start state under autograd and
back-propagates the output gradient together with the carried state gradient: deterministic (fixed order).

``matmul_bf16``: the four per-chunk products take bf16 operands (oneDNN accumulates in fp32); decays, the
state passing between chunks and blocks, and all outputs stay fp32.

``reverse`` walks the blocks from the end and flips each block (a block-sized copy), so no flipped copy of
the whole sequence is made. dt softplus/bias, the D skip and the gate are applied around the op in plain torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from genomamba_kernels.ssd_reference import finish, prepare_dt, reset_mask, segsum_mask

__all__ = ["ssd_cpu", "DEFAULT_BLOCK"]

# positions per block: the chunk-to-chunk state passing is a (chunks x chunks) product per block, so its cost per
# token grows with the block; 1024 (16 chunks of 64) was fastest for fwd+bwd at 4 heads x 64, state 64, 1 thread
DEFAULT_BLOCK = 1024


def _mm(a: torch.Tensor, b: torch.Tensor, bf16: bool) -> torch.Tensor:
    """a @ b in fp32, or with bf16 operands and an fp32 result."""
    if bf16:
        return torch.matmul(a.to(torch.bfloat16), b.to(torch.bfloat16)).float()
    return torch.matmul(a, b)


def _chunk_inputs(x, dt, B, C, rst, T):
    """Pad the block to whole chunks (dt = 0 there: the state passes unchanged) and split it into chunks.

    x (b, l, h, p), dt (b, l, h), B/C (b, l, g, n), rst (b, l) bool or None ->
    x (b, c, g, hg, T, p), dt (b, c, g, hg, T), B/C (b, c, g, T, n), seg (b, c, T) long or None.
    """
    batch, length, heads, headdim = x.shape
    groups, nstate = B.shape[2], B.shape[3]
    pad = (-length) % T
    if pad:
        x, B, C = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (x, B, C))
        dt = F.pad(dt, (0, 0, 0, pad))
        rst = None if rst is None else F.pad(rst.long(), (0, pad)).bool()
    nc, hg = (length + pad) // T, heads // groups
    xc = x.reshape(batch, nc, T, groups, hg, headdim).permute(0, 1, 3, 4, 2, 5)
    dtc = dt.reshape(batch, nc, T, groups, hg).permute(0, 1, 3, 4, 2)
    Bc = B.reshape(batch, nc, T, groups, nstate).transpose(2, 3)
    Cc = C.reshape(batch, nc, T, groups, nstate).transpose(2, 3)
    seg = None if rst is None else torch.cumsum(rst.reshape(batch, nc, T).long(), dim=2)
    return xc, dtc, Bc, Cc, seg


def _chunk_passing(S_last, seg, local, h0):
    """States entering each chunk and the block's final state.

    S_last (b, c, g, hg): log decay over each chunk; seg (b, c, T) or None; local (b, c, g, hg, p, n);
    h0 (b, g, hg, p, n). Returns h_in (b, c + 1, g, hg, p, n); h_in[:, c] enters chunk c, h_in[:, -1] is final.
    """
    batch, nc = S_last.shape[:2]
    cum = F.pad(torch.cumsum(S_last, dim=1), (0, 0, 0, 0, 1, 0))  # (b, c + 1, g, hg), cum[0] = 0
    # Dec[i, j] = decay from the end of chunk j to the start of chunk i (j < i), if no reset in chunks j+1..i-1
    diff = cum[:, :, None] - cum[:, None, 1:]  # (b, c + 1, c, g, hg)
    allowed = torch.ones(nc + 1, nc, dtype=torch.bool, device=S_last.device).tril(-1)
    from_h0 = torch.ones(batch, nc + 1, dtype=torch.bool, device=S_last.device)
    if seg is not None:
        # resets[i]: how many of chunks 0..i-1 hold a reset; chunks j+1..i-1 are reset-free iff equal counts
        resets = F.pad(torch.cumsum((seg[:, :, -1] > 0).long(), dim=1), (1, 0))  # (b, c + 1)
        allowed = (allowed & (resets[:, :, None] == resets[:, None, 1:]))[..., None, None]
        from_h0 = resets == 0
    else:
        allowed = allowed[None, :, :, None, None]
    dec = torch.exp(diff.masked_fill(~allowed, float("-inf")))  # (b, c + 1, c, g, hg)
    dec = dec.permute(0, 3, 4, 1, 2)  # (b, g, hg, c + 1, c)
    flat = local.permute(0, 2, 3, 1, 4, 5).reshape(*dec.shape[:3], nc, -1)  # (b, g, hg, c, p * n)
    h_in = torch.matmul(dec, flat).reshape(*dec.shape[:4], *local.shape[-2:])  # (b, g, hg, c + 1, p, n)
    carry = torch.exp(cum) * from_h0[:, :, None, None].to(cum.dtype)  # (b, c + 1, g, hg)
    h_in = h_in + carry.permute(0, 2, 3, 1)[..., None, None] * h0[:, :, :, None]
    return h_in.permute(0, 3, 1, 2, 4, 5)


def _block(x, dt, A, B, C, h0, rst, T, bf16):
    """SSD over one block in scan order, from state h0.

    x (b, l, h, p) fp32, dt (b, l, h) fp32 (after softplus), A (h,), B/C (b, l, g, n), h0 (b, h, p, n),
    rst (b, l) bool or None. Returns y (b, l, h, p) and the final state (b, h, p, n).
    """
    batch, length, heads, headdim = x.shape
    groups, nstate = B.shape[2], B.shape[3]
    xc, dtc, Bc, Cc, seg = _chunk_inputs(x, dt, B, C, rst, T)
    hg = heads // groups
    S = torch.cumsum(dtc * A.view(groups, hg, 1), dim=-1)  # (b, c, g, hg, T): log decay chunk start -> t
    mask = segsum_mask(seg, T, x.device)  # (T, T) or (b, c, T, T)
    if seg is not None:
        mask = mask[:, :, None, None]
    Lmat = torch.exp((S[..., :, None] - S[..., None, :]).masked_fill(~mask, float("-inf")))
    CB = _mm(Cc, Bc.transpose(-1, -2), bf16)  # (b, c, g, T, T)
    scores = CB[:, :, :, None] * Lmat * dtc[..., None, :]  # (b, c, g, hg, T, T)
    y = _mm(scores, xc, bf16)  # (b, c, g, hg, T, p)
    # chunk-local final states from the chunk's last segment
    S_last = S[..., -1]  # (b, c, g, hg)
    w = torch.exp(S_last[..., None] - S) * dtc  # (b, c, g, hg, T)
    e = torch.exp(S)  # (b, c, g, hg, T): carry-in decay, zero after a reset in the chunk
    if seg is not None:
        w = w * (seg == seg[:, :, -1:])[:, :, None, None].to(w.dtype)
        e = e * (seg == 0)[:, :, None, None].to(e.dtype)
    local = _mm((xc * w[..., None]).transpose(-1, -2), Bc[:, :, :, None], bf16)  # (b, c, g, hg, p, n)
    h_in = _chunk_passing(S_last, seg, local, h0.view(batch, groups, hg, headdim, nstate))
    nc = xc.shape[1]
    states = h_in[:, :nc]  # (b, c, g, hg, p, n)
    y = y + _mm(Cc[:, :, :, None], states.transpose(-1, -2), bf16) * e[..., None]
    y = y.permute(0, 1, 4, 2, 3, 5).reshape(batch, nc * T, heads, headdim)[:, :length]
    return y, h_in[:, nc].reshape(batch, heads, headdim, nstate)


def _spans(length: int, block: int, reverse: bool):
    """(block index, lo, hi) in scan order: position ranges [lo, hi) of the blocks, from the scan start."""
    n = -(-length // block)
    for k in range(n):
        lo, hi = k * block, min(length, (k + 1) * block)
        yield (k, length - hi, length - lo) if reverse else (k, lo, hi)


def _take(t: torch.Tensor | None, lo: int, hi: int, reverse: bool) -> torch.Tensor | None:
    """Positions [lo, hi) of (b, L, ...) in scan order (flipped when reverse)."""
    if t is None:
        return None
    part = t[:, lo:hi]
    return part.flip(1) if reverse else part


class _CpuSSD(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dt, A, B, C, rst, reverse, chunk, block, bf16, save):
        batch, length, heads, headdim = x.shape
        state = x.new_zeros(batch, heads, headdim, B.shape[-1])
        y = torch.empty(batch, length, heads, headdim, dtype=torch.float32)
        starts = []
        for _, lo, hi in _spans(length, block, reverse):
            starts.append(state)
            yb, state = _block(*(_take(t, lo, hi, reverse) for t in (x, dt)), A,
                               *(_take(t, lo, hi, reverse) for t in (B, C)), state,
                               _take(rst, lo, hi, reverse), chunk, bf16)  # fmt: skip
            y[:, lo:hi] = yb.flip(1) if reverse else yb
        if save:
            ctx.save_for_backward(x, dt, A, B, C, rst, torch.stack(starts))
            ctx.flags = (reverse, chunk, block, bf16)
        return y, state

    @staticmethod
    def backward(ctx, gy, gstate):
        x, dt, A, B, C, rst, starts = ctx.saved_tensors
        reverse, chunk, block, bf16 = ctx.flags
        length = x.shape[1]
        gx, gdt = torch.zeros_like(x), torch.zeros_like(dt)
        gB, gC = torch.zeros_like(B), torch.zeros_like(C)
        gA = torch.zeros_like(A)
        carry = torch.zeros_like(starts[0]) if gstate is None else gstate
        for k, lo, hi in reversed(list(_spans(length, block, reverse))):
            with torch.enable_grad():
                leaves = [_take(t, lo, hi, reverse).detach().requires_grad_(True) for t in (x, dt, B, C)]
                A_leaf = A.detach().requires_grad_(True)
                h0 = starts[k].detach().requires_grad_(True)
                yb, hb = _block(leaves[0], leaves[1], A_leaf, leaves[2], leaves[3], h0,
                                _take(rst, lo, hi, reverse), chunk, bf16)  # fmt: skip
                g_out = torch.zeros_like(yb) if gy is None else _take(gy, lo, hi, reverse)
                grads = torch.autograd.grad((yb, hb), (*leaves, A_leaf, h0), (g_out, carry), allow_unused=True)
            for buf, g in zip((gx, gdt, gB, gC), grads[:4]):
                if g is not None:
                    buf[:, lo:hi] = g.flip(1) if reverse else g
            if grads[4] is not None:
                gA += grads[4]
            carry = grads[5] if grads[5] is not None else torch.zeros_like(carry)
        return gx, gdt, gA, gB, gC, None, None, None, None, None, None


def ssd_cpu(
    x,
    dt,
    A,
    B,
    C,
    D=None,
    z=None,
    dt_bias=None,
    dt_softplus=False,
    return_final_state=False,
    *,
    reverse=False,
    seq_idx=None,
    chunk_size: int = 64,
    block: int = DEFAULT_BLOCK,
    matmul_bf16: bool = False,
):
    """Chunked SSD on CPU tensors; arguments and result as :func:`genomamba.ops.ssd`.

    Computation is fp32 (optionally bf16 matmul operands); the output has x's dtype.
    """
    length = x.shape[1]
    block = max(chunk_size, block // chunk_size * chunk_size)
    dtp = prepare_dt(dt, dt_bias, dt_softplus, torch.float32)
    rst = reset_mask(seq_idx, length, reverse)
    tensors = (x.float(), dtp, A.float(), B.float(), C.float())
    save = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    y, state = _CpuSSD.apply(*tensors, rst, bool(reverse), int(chunk_size), block, bool(matmul_bf16), save)
    out = finish(y, x, D, z, x.dtype)
    return (out, state) if return_final_state else out
