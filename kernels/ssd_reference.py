"""Pure-PyTorch references for Mamba-2's state space duality (SSD) scan, fp32-upcast. Oracles, not fast paths.

The recurrence, per batch b, head h (group g = h // (heads / groups)), position t, with a scalar decay per head:

    dt_t    = softplus(dt_t + dt_bias[h])                       (bias and softplus optional)
    S_t     = exp(dt_t * A[h]) * S_{t-1} + dt_t * x_t B_t^T     S_t: (headdim, state); x_t: (headdim,); B_t: (state,)
    y_t     = S_t C_t + D[h] * x_t                              (D optional)
    out_t   = y_t * silu(z_t)                                   (gate optional)

``reverse=True`` runs t from L-1 down to 0. ``seq_idx`` (batch, length) resets the state to zero at every
position whose seq_idx differs from the previous position in scan order (the rule of the Mamba-1 scan).

* :func:`ssd_loop` is the oracle: a Python loop over ``unbind`` slices (O(L) backward), materialising one
  (batch, heads, headdim, state) state per step: small shapes only.
* :func:`ssd_chunked` is the SSD form (Dao & Gu 2024): within a chunk of T positions the output is a masked
  (T x T) matrix product, y = (C B^T o L) (dt x) with L[t, s] = exp(cumsum_{s<k<=t} dt_k A); chunk-final states
  pass from chunk to chunk. The reverse direction is computed by flipping the inputs (independent of the
  loop's reversed iteration). It materialises everything: small shapes only.

Shared by every tier: :func:`prepare_dt` (bias + softplus) and :func:`finish` (D skip + gate), plain torch ops
that autograd differentiates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from genomamba_kernels.reference import reset_mask

__all__ = ["ssd_loop", "ssd_chunked", "prepare_dt", "finish", "heads_of_groups", "reset_mask"]


def work_dtype(x: torch.Tensor) -> torch.dtype:
    """fp64 stays fp64 (gradcheck); everything else is computed in fp32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def prepare_dt(dt: torch.Tensor, dt_bias: torch.Tensor | None, dt_softplus: bool, dtype: torch.dtype) -> torch.Tensor:
    """(batch, length, heads) raw dt -> the step sizes the recurrence uses, in ``dtype``."""
    dt = dt.to(dtype)
    if dt_bias is not None:
        dt = dt + dt_bias.to(dtype)
    return F.softplus(dt) if dt_softplus else dt


def finish(y: torch.Tensor, x: torch.Tensor, D: torch.Tensor | None, z: torch.Tensor | None, dtype_out) -> torch.Tensor:
    """y (batch, length, heads, headdim) -> with the D skip and the silu(z) gate, cast to ``dtype_out``."""
    if D is not None:
        y = y + x.to(y.dtype) * D.to(y.dtype)[:, None]
    if z is not None:
        y = y * F.silu(z.to(y.dtype))
    return y.to(dtype_out)


def heads_of_groups(M: torch.Tensor, heads: int) -> torch.Tensor:
    """(batch, length, groups, state) -> (batch, length, heads, state): head h reads group h // (heads / groups)."""
    return M.repeat_interleave(heads // M.shape[2], dim=2)


def ssd_loop(
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
    chunk_size=None,
):
    """Sequential oracle; shapes as :func:`genomamba.ops.ssd` (``chunk_size`` is accepted and unused)."""
    work = work_dtype(x)
    batch, length, heads, headdim = x.shape
    xw = x.to(work)
    dt = prepare_dt(dt, dt_bias, dt_softplus, work)  # (batch, length, heads)
    decay = torch.exp(dt * A.to(work))  # (batch, length, heads)
    Bh, Ch = heads_of_groups(B.to(work), heads), heads_of_groups(C.to(work), heads)  # (batch, length, heads, N)
    rst = reset_mask(seq_idx, length, reverse)
    keep_t = None if rst is None else (~rst).to(work)[:, :, None, None, None].unbind(1)  # (batch, 1, 1, 1) each
    x_t, dt_t, decay_t = xw.unbind(1), dt.unbind(1), decay.unbind(1)
    B_t, C_t = Bh.unbind(1), Ch.unbind(1)
    state = xw.new_zeros(batch, heads, headdim, B.shape[-1])
    ys: list[torch.Tensor | None] = [None] * length
    for t in range(length - 1, -1, -1) if reverse else range(length):
        if keep_t is not None:
            state = state * keep_t[t]
        drive = (dt_t[t][:, :, None] * x_t[t])[..., None] * B_t[t][:, :, None, :]  # (batch, heads, P, N)
        state = decay_t[t][:, :, None, None] * state + drive
        ys[t] = (state * C_t[t][:, :, None, :]).sum(-1)  # (batch, heads, P)
    y = torch.stack(ys, dim=1)
    out = finish(y, xw, D, z, x.dtype)
    return (out, state) if return_final_state else out


def segsum_mask(seg: torch.Tensor | None, T: int, device) -> torch.Tensor:
    """(..., T, T) bool: s <= t and s, t in the same segment of the chunk (``seg``: (..., T) or None)."""
    causal = torch.ones(T, T, dtype=torch.bool, device=device).tril()
    if seg is None:
        return causal
    return causal & (seg[..., :, None] == seg[..., None, :])


def _chunked_forward(x, dt, A, Bh, Ch, rst, T):
    """Forward-direction SSD over chunks of T. Inputs in the work dtype, heads already expanded.

    x (b, L, h, p), dt (b, L, h), Bh/Ch (b, L, h, n), rst (b, L) bool or None. Returns y (b, L, h, p), state.
    """
    batch, length, heads, headdim = x.shape
    nstate = Bh.shape[-1]
    pad = (-length) % T
    if pad:  # dt = 0 on padding: decay 1 and no input, so the state passes through unchanged
        x, dt, Bh, Ch = (F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad)) for t in (x, dt, Bh, Ch))
        rst = None if rst is None else F.pad(rst.long(), (0, pad)).bool()
    nc = (length + pad) // T
    xc = x.reshape(batch, nc, T, heads, headdim)
    Bc, Cc = Bh.reshape(batch, nc, T, heads, nstate), Ch.reshape(batch, nc, T, heads, nstate)
    dtc = dt.reshape(batch, nc, T, heads)
    Sc = torch.cumsum(dtc * A, dim=2)  # (b, c, T, h): log decay from the chunk start through t
    seg = None if rst is None else torch.cumsum(rst.reshape(batch, nc, T).long(), dim=2)  # (b, c, T)
    allowed = segsum_mask(seg, T, x.device)  # (T, T) or (b, c, T, T)
    if seg is not None:
        allowed = allowed[:, :, None]  # (b, c, 1, t, s)
    diff = Sc.transpose(2, 3)[..., :, None] - Sc.transpose(2, 3)[..., None, :]  # (b, c, h, t, s) = S_t - S_s
    Lmat = torch.exp(diff.masked_fill(~allowed, float("-inf")))
    scores = torch.einsum("bcthn,bcshn->bchts", Cc, Bc) * Lmat * dtc.transpose(2, 3)[..., None, :]
    y = torch.einsum("bchts,bcshp->bcthp", scores, xc)
    # chunk-local final states: contributions of the chunk's last segment only
    last = Sc[:, :, -1:, :]  # (b, c, 1, h)
    w = torch.exp(last - Sc) * dtc  # (b, c, T, h)
    same_last = None if seg is None else (seg == seg[:, :, -1:]).to(x.dtype)[..., None]
    if same_last is not None:
        w = w * same_last
    local = torch.einsum("bcth,bcthp,bcthn->bchpn", w, xc, Bc)
    carry_in = torch.ones(batch, nc, T, 1, dtype=x.dtype, device=x.device) if seg is None else (seg == 0)[..., None]
    chunk_keep = carry_in[:, :, -1, :].to(x.dtype)  # (b, c, 1): no reset inside the chunk
    state = x.new_zeros(batch, heads, headdim, nstate)
    ys = []
    per_chunk = (t.unbind(1) for t in (y, local, Sc, Cc, carry_in.to(x.dtype), chunk_keep))
    for y_c, loc_c, S_c, C_c, in_c, keep_c in zip(*per_chunk):
        e = torch.exp(S_c) * in_c  # (b, T, h): decay from the chunk start, zero after a reset
        ys.append(y_c + torch.einsum("bthn,bhpn->bthp", C_c, state) * e[..., None])
        g = torch.exp(S_c[:, -1]) * keep_c  # (b, h)
        state = g[:, :, None, None] * state + loc_c
    out = torch.stack(ys, dim=1).reshape(batch, nc * T, heads, headdim)[:, :length]
    return out, state


def ssd_chunked(
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
    chunk_size=8,
):
    """The SSD (chunked matrix) form; shapes as :func:`genomamba.ops.ssd`. Materialises (b, L, h, T) scores."""
    work = work_dtype(x)
    heads = x.shape[2]
    length = x.shape[1]
    xw = x.to(work)
    dt = prepare_dt(dt, dt_bias, dt_softplus, work)
    Bh, Ch = heads_of_groups(B.to(work), heads), heads_of_groups(C.to(work), heads)
    Aw = A.to(work)
    if reverse:
        # flip every per-position input; the reset rule flips with it
        flip_seq = None if seq_idx is None else seq_idx.flip(-1)
        rst = reset_mask(flip_seq, length, reverse=False)
        y, state = _chunked_forward(xw.flip(1), dt.flip(1), Aw, Bh.flip(1), Ch.flip(1), rst, chunk_size)
        y = y.flip(1)
    else:
        rst = reset_mask(seq_idx, length, reverse=False)
        y, state = _chunked_forward(xw, dt, Aw, Bh, Ch, rst, chunk_size)
    out = finish(y, xw, D, z, x.dtype)
    return (out, state) if return_final_state else out
