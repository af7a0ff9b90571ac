"""CPU path for the SSD scan: the chunked matrix form, streamed in blocks, behind a ``torch.autograd.Function``.

Within a chunk of T positions everything is a batched matrix product (MKL/oneDNN GEMMs), and exps are taken
only per (position, head) and per (T x T) chunk pair, never per state element:

    CB     = C B^T                                   (T x T per chunk and group)
    y_in   = (CB o L) (dt x)                         (intra-chunk; L[t, s] = exp(S_t - S_s), s <= t, same segment)
    local  = (x o w)^T B                             (chunk-local final state, headdim x state per head)
    h_in   = Dec local + decay * h0                  (states entering each chunk: a (chunks x chunks) product)
    y_out  = exp(S_t) (C h_in^T)                     (inter-chunk)

The sequence is processed in blocks of ``block`` positions (a whole number of chunks); the state is carried
from block to block. Forward saves only the inputs and the state at every block start
(batch * heads * headdim * state floats per block), so memory is O(batch * length * heads * headdim) plus those
states: nothing of size (length, heads, headdim, state) exists, and the (T x T) scores exist for one block at
a time. Backward walks the blocks in reverse, recomputes each block's decays and chunk states from its saved
start state and runs the analytic adjoint (the same products transposed), carrying the state gradient from
block to block: deterministic (fixed order).

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


def _chunk_heads(t: torch.Tensor, T: int, groups: int) -> torch.Tensor:
    """(b, l, h, p) with l a multiple of T -> (b, c, g, hg, T, p) view/copy in chunk-major layout."""
    batch, length, heads, headdim = t.shape
    return t.reshape(batch, length // T, T, groups, heads // groups, headdim).permute(0, 1, 3, 4, 2, 5)


def _unchunk_heads(t: torch.Tensor, length: int) -> torch.Tensor:
    """(b, c, g, hg, T, p) -> (b, length, h, p) (padding dropped)."""
    batch, nc, groups, hg, T, headdim = t.shape
    return t.permute(0, 1, 4, 2, 3, 5).reshape(batch, nc * T, groups * hg, headdim)[:, :length]


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
    nc = (length + pad) // T
    xc = _chunk_heads(x, T, groups)
    dtc = _chunk_heads(dt[..., None], T, groups)[..., 0]
    Bc = B.reshape(batch, nc, T, groups, nstate).transpose(2, 3)
    Cc = C.reshape(batch, nc, T, groups, nstate).transpose(2, 3)
    seg = None if rst is None else torch.cumsum(rst.reshape(batch, nc, T).long(), dim=2)
    return xc, dtc, Bc, Cc, seg


def _decays(dtc, A, seg, T):
    """Decays inside each chunk, from dtc (b, c, g, hg, T), A (h,) and seg (b, c, T) or None:

    S (b, c, g, hg, T) cumulative log decay from the chunk start through t; Lmat (b, c, g, hg, T, T) =
    exp(S_t - S_s) for s <= t in one segment, else 0; e (.., T): decay chunk start -> t, 0 after a reset;
    wdec (.., T): decay t -> chunk end, 0 unless t is in the chunk's last segment.
    """
    groups, hg = dtc.shape[2], dtc.shape[3]
    S = torch.cumsum(dtc * A.view(groups, hg, 1), dim=-1)
    mask = segsum_mask(seg, T, dtc.device)  # (T, T) or (b, c, T, T)
    if seg is not None:
        mask = mask[:, :, None, None]
    Lmat = torch.exp((S[..., :, None] - S[..., None, :]).masked_fill(~mask, float("-inf")))
    e, wdec = torch.exp(S), torch.exp(S[..., -1:] - S)
    if seg is not None:
        e = e * (seg == 0)[:, :, None, None].to(e.dtype)
        wdec = wdec * (seg == seg[:, :, -1:])[:, :, None, None].to(e.dtype)
    return S, Lmat, e, wdec


def _passing_weights(S_last, seg):
    """Chunk-to-chunk decays from S_last (b, c, g, hg) (log decay over each chunk) and seg (b, c, T) or None.

    dec (b, g, hg, c + 1, c): decay from the end of chunk j to the start of chunk i, 0 unless j < i and chunks
    j+1..i-1 hold no reset; carry (b, g, hg, c + 1): decay from the block start to the start of chunk i, 0 once
    a reset was passed. Index c + 1 is "after the last chunk" (the block's final state).
    """
    batch, nc = S_last.shape[:2]
    cum = F.pad(torch.cumsum(S_last, dim=1), (0, 0, 0, 0, 1, 0)).permute(0, 2, 3, 1)  # (b, g, hg, c + 1)
    diff = cum[..., :, None] - cum[..., None, 1:]  # (b, g, hg, c + 1, c): cum[i] - cum[j + 1]
    allowed = torch.ones(nc + 1, nc, dtype=torch.bool, device=S_last.device).tril(-1)
    from_h0 = torch.ones(batch, nc + 1, dtype=torch.bool, device=S_last.device)
    if seg is not None:
        # resets[i]: how many of chunks 0..i-1 hold a reset; chunks j+1..i-1 are reset-free iff equal counts
        resets = F.pad(torch.cumsum((seg[:, :, -1] > 0).long(), dim=1), (1, 0))  # (b, c + 1)
        allowed = (allowed & (resets[:, :, None] == resets[:, None, 1:]))[:, None, None]
        from_h0 = resets == 0
    dec = torch.exp(diff.masked_fill(~allowed, float("-inf")))
    carry = torch.exp(cum) * from_h0[:, None, None, :].to(cum.dtype)
    return dec, carry


def _flat_states(t: torch.Tensor) -> torch.Tensor:
    """(b, c, g, hg, p, n) -> (b, g, hg, c, p * n)."""
    batch, nc, groups, hg, headdim, nstate = t.shape
    return t.permute(0, 2, 3, 1, 4, 5).reshape(batch, groups, hg, nc, headdim * nstate)


def _pass(dec, carry, local, h0):
    """States entering each chunk: h_in (b, g, hg, c + 1, p, n) = dec @ local + carry * h0, from
    local (b, c, g, hg, p, n) (chunk-local final states) and h0 (b, g, hg, p, n)."""
    h_in = torch.matmul(dec, _flat_states(local)).unflatten(-1, local.shape[-2:])
    return h_in + carry[..., None, None] * h0[:, :, :, None]


def _block(x, dt, A, B, C, h0, rst, T, bf16):
    """SSD over one block in scan order, from state h0.

    x (b, l, h, p) fp32, dt (b, l, h) fp32 (after softplus), A (h,), B/C (b, l, g, n), h0 (b, h, p, n),
    rst (b, l) bool or None. Returns y (b, l, h, p) and the final state (b, h, p, n).
    """
    batch, length, heads, headdim = x.shape
    groups, nstate = B.shape[2], B.shape[3]
    xc, dtc, Bc, Cc, seg = _chunk_inputs(x, dt, B, C, rst, T)
    nc, hg = xc.shape[1], heads // groups
    S, Lmat, e, wdec = _decays(dtc, A, seg, T)
    CB = _mm(Cc, Bc.transpose(-1, -2), bf16)  # (b, c, g, T, T)
    # (CB o L o dt_s) x = (CB o L) (dt x): dt scales the rows of x, one (T x T)-sized product fewer
    y = _mm(CB[:, :, :, None] * Lmat, xc * dtc[..., None], bf16)  # (b, c, g, hg, T, p)
    local = _mm((xc * (wdec * dtc)[..., None]).transpose(-1, -2), Bc[:, :, :, None], bf16)  # (b, c, g, hg, p, n)
    dec, carry = _passing_weights(S[..., -1], seg)
    h_in = _pass(dec, carry, local, h0.view(batch, groups, hg, headdim, nstate))  # (b, g, hg, c + 1, p, n)
    states = h_in[:, :, :, :nc].permute(0, 3, 1, 2, 5, 4)  # (b, c, g, hg, n, p)
    y = y + _mm(Cc[:, :, :, None], states, bf16) * e[..., None]
    return _unchunk_heads(y, length), h_in[:, :, :, nc].reshape(batch, heads, headdim, nstate)


def _block_backward(x, dt, A, B, C, h0, rst, T, bf16, gy, gfinal):
    """Analytic adjoint of :func:`_block`: recomputes the block's decays and states from h0, then
    back-propagates gy (b, l, h, p) and gfinal (b, h, p, n). Returns gx, gdt, gA, gB, gC, gh0."""
    batch, length, heads, headdim = x.shape
    groups, nstate = B.shape[2], B.shape[3]
    xc, dtc, Bc, Cc, seg = _chunk_inputs(x, dt, B, C, rst, T)
    nc, hg = xc.shape[1], heads // groups
    gyc = _chunk_heads(F.pad(gy, (0, 0, 0, 0, 0, nc * T - length)), T, groups)
    h0g = h0.view(batch, groups, hg, headdim, nstate)
    S, Lmat, e, wdec = _decays(dtc, A, seg, T)
    w = wdec * dtc
    CBL = _mm(Cc, Bc.transpose(-1, -2), bf16)[:, :, :, None] * Lmat  # (b, c, g, hg, T, T)
    x_dt, xw = xc * dtc[..., None], xc * w[..., None]
    local = _mm(xw.transpose(-1, -2), Bc[:, :, :, None], bf16)
    dec, carry = _passing_weights(S[..., -1], seg)
    h_in = _pass(dec, carry, local, h0g)
    states = h_in[:, :, :, :nc].permute(0, 3, 1, 2, 4, 5)  # (b, c, g, hg, p, n)
    # y = CBL (dt x) + e (C states^T)
    gye = gyc * e[..., None]
    d_xdt = _mm(CBL.transpose(-1, -2), gyc, bf16)
    dCBL = _mm(gyc, x_dt.transpose(-1, -2), bf16)  # (b, c, g, hg, T, T)
    de = (gyc * _mm(Cc[:, :, :, None], states.transpose(-1, -2), bf16)).sum(-1)
    d_states = _mm(gye.transpose(-1, -2), Cc[:, :, :, None], bf16)  # (b, c, g, hg, p, n)
    dCB = (dCBL * Lmat).sum(3)  # (b, c, g, T, T)
    dC = _mm(gye, states, bf16).sum(3) + _mm(dCB, Bc, bf16)  # (b, c, g, T, n)
    dB = _mm(dCB.transpose(-1, -2), Cc, bf16)
    Q = dCBL * CBL  # dLoss/d(S_t - S_s)
    dS = Q.sum(-1) - Q.sum(-2) + de * e
    gx, gdt = d_xdt * dtc[..., None], (d_xdt * xc).sum(-1)
    # h_in = dec local + carry h0: gradients on local, h0 and the chunk decays
    dh_in = torch.cat([d_states.permute(0, 2, 3, 1, 4, 5), gfinal.view(batch, groups, hg, 1, headdim, nstate)], 3)
    flat_dh = dh_in.flatten(-2)  # (b, g, hg, c + 1, p * n)
    d_local = torch.matmul(dec.transpose(-1, -2), flat_dh).unflatten(-1, (headdim, nstate)).permute(0, 3, 1, 2, 4, 5)
    gh0 = (carry[..., None, None] * dh_in).sum(3).reshape(batch, heads, headdim, nstate)
    d_logdec = torch.matmul(flat_dh, _flat_states(local).transpose(-1, -2)) * dec  # (b, g, hg, c + 1, c)
    d_cum = d_logdec.sum(-1) + (dh_in * h0g[:, :, :, None]).sum((-1, -2)) * carry  # (b, g, hg, c + 1)
    d_cum[..., 1:] -= d_logdec.sum(-2)
    d_S_last = d_cum[..., 1:].flip(-1).cumsum(-1).flip(-1).permute(0, 3, 1, 2)  # cum[i] = sum_{k<i} S_last[k]
    # local = (x w)^T B
    d_xw = _mm(Bc[:, :, :, None], d_local.transpose(-1, -2), bf16)  # (b, c, g, hg, T, p)
    dB = dB + _mm(xw, d_local, bf16).sum(3)
    gx = gx + d_xw * w[..., None]
    dw = (d_xw * xc).sum(-1)
    gdt = gdt + dw * wdec
    dS = dS - dw * w
    dS[..., -1] += d_S_last + (dw * w).sum(-1)  # S_last is S at the chunk's last position
    da = dS.flip(-1).cumsum(-1).flip(-1)  # S = cumsum(dt A)
    gdt = gdt + da * A.view(groups, hg, 1)
    gA = (da * dtc).sum((0, 1, 4)).reshape(heads)
    gdt = _unchunk_heads(gdt[..., None], length)[..., 0]
    gB, gC = (t.transpose(2, 3).reshape(batch, nc * T, groups, nstate)[:, :length] for t in (dB, dC))
    return _unchunk_heads(gx, length), gdt, gA, gB, gC, gh0


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
        gx, gdt = torch.empty_like(x), torch.empty_like(dt)
        gB, gC = torch.empty_like(B), torch.empty_like(C)
        gA = torch.zeros_like(A)
        carry = torch.zeros_like(starts[0]) if gstate is None else gstate.float()
        gy = torch.zeros_like(x) if gy is None else gy.float()
        for k, lo, hi in reversed(list(_spans(length, block, reverse))):
            xb, dtb, Bb, Cb, rb, gyb = (_take(t, lo, hi, reverse) for t in (x, dt, B, C, rst, gy))
            grads = _block_backward(xb, dtb, A, Bb, Cb, starts[k], rb, chunk, bf16, gyb, carry)
            for buf, g in zip((gx, gdt), grads[:2]):
                buf[:, lo:hi] = g.flip(1) if reverse else g
            for buf, g in zip((gB, gC), grads[3:5]):
                buf[:, lo:hi] = g.flip(1) if reverse else g
            gA += grads[2]
            carry = grads[5]
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
