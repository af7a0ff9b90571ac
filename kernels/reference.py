"""Pure-PyTorch references for the selective scan (Mamba S6), fp32-upcast. Oracles, not fast paths.

Two independent formulations of the same recurrence, per batch b, channel d, state n, position t:

    delta_t = softplus(delta_t + delta_bias)        (softplus and bias optional)
    x_t     = exp(delta_t * A[d, n]) * x_{t-1} + delta_t * u_t * B_t[n]
    y_t     = sum_n C_t[n] * x_t[n] + D[d] * u_t
    out_t   = y_t * silu(z_t)                       (gate optional)

``reverse=True`` runs t from L-1 down to 0. ``seq_idx`` (batch, length) resets the state to zero at every
position whose seq_idx differs from the previous position in scan order, so packed sequences never mix.

* :func:`selective_scan_loop` is the oracle: a Python loop over ``unbind`` slices (one autograd node per step
  whose backward does not allocate length-sized zeros, so fwd+bwd stays O(L); ``t[:, i]`` indexing would make
  it O(L^2)). It materialises (batch, dim, length, state): small shapes only.
* :func:`selective_scan_chunked` is the closed form per chunk: x_t = sum_{s<=t} exp(S_t - S_s) dBu_s
  + exp(S_t - S_start) x_start with S the cumulative sum of delta*A, masked across sequence boundaries; the
  reverse direction is computed by flipping (independent of the loop's reversed iteration).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["selective_scan_loop", "selective_scan_chunked", "reset_mask", "expand_groups"]


def expand_groups(BC: torch.Tensor, dim: int) -> torch.Tensor:
    """(batch, state, length) or (batch, groups, state, length) -> (batch, dim, state, length) per channel.

    Channel d uses group d // (dim // groups), as in mamba-ssm.
    """
    if BC.dim() == 3:
        return BC.unsqueeze(1).expand(BC.shape[0], dim, BC.shape[1], BC.shape[2])
    groups = BC.shape[1]
    return BC.repeat_interleave(dim // groups, dim=1)


def reset_mask(seq_idx: torch.Tensor | None, length: int, reverse: bool) -> torch.Tensor | None:
    """(batch, length) bool: True where the state is reset before the update at that position.

    Forward: seq_idx[t] != seq_idx[t-1]; reverse: seq_idx[t] != seq_idx[t+1]. The first position in scan order
    never resets (the state starts at zero anyway).
    """
    if seq_idx is None:
        return None
    seq_idx = seq_idx.long()
    rst = torch.zeros(seq_idx.shape, dtype=torch.bool, device=seq_idx.device)
    if length > 1:
        change = seq_idx[:, 1:] != seq_idx[:, :-1]  # (batch, length-1): boundary between t and t+1
        if reverse:
            rst[:, :-1] = change
        else:
            rst[:, 1:] = change
    return rst


def _prepare(u, delta, A, B, C, D, z, delta_bias, delta_softplus):
    """Upcast to fp32 (fp64 stays fp64 for gradcheck) and apply bias/softplus. Returns per-channel B/C."""
    work = torch.float64 if u.dtype == torch.float64 else torch.float32
    u, delta, A, B, C = (t.to(work) for t in (u, delta, A, B, C))
    dim = u.shape[1]
    if delta_bias is not None:
        delta = delta + delta_bias.to(work)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    Bd = expand_groups(B, dim)  # (batch, dim, state, length)
    Cd = expand_groups(C, dim)
    return u, delta, A, Bd, Cd


def _finish(y, u, D, z, dtype_in):
    """y (batch, dim, length) -> out with D skip and silu(z) gate, cast back to the input dtype."""
    if D is not None:
        y = y + u * D.to(y.dtype)[:, None]
    if z is not None:
        y = y * F.silu(z.to(y.dtype))
    return y.to(dtype_in)


def selective_scan_loop(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    z=None,
    delta_bias=None,
    delta_softplus=False,
    return_last_state=False,
    *,
    reverse=False,
    seq_idx=None,
):
    """Sequential oracle. Shapes as :func:`genomamba.ops.selective_scan`; memory O(batch*dim*state*length)."""
    dtype_in = u.dtype
    batch, dim, length = u.shape
    u, delta, A, Bd, Cd = _prepare(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    decay = torch.exp(delta.unsqueeze(-1) * A[None, :, None, :])  # (batch, dim, length, state)
    drive = (delta * u).unsqueeze(-1) * Bd.transpose(2, 3)  # (batch, dim, length, state)
    rst = reset_mask(seq_idx, length, reverse)
    keep = None if rst is None else (~rst).to(u.dtype)[:, None, :, None].expand(batch, 1, length, 1)
    # unbind once: every step reads a view, and autograd stacks the step gradients in one node
    decay_t, drive_t, C_t = decay.unbind(2), drive.unbind(2), Cd.unbind(3)
    keep_t = keep.unbind(2) if keep is not None else None
    order = range(length - 1, -1, -1) if reverse else range(length)
    x = u.new_zeros(batch, dim, A.shape[1])
    ys: list[torch.Tensor | None] = [None] * length
    for t in order:
        if keep_t is not None:
            x = x * keep_t[t]
        x = decay_t[t] * x + drive_t[t]
        ys[t] = (x * C_t[t]).sum(-1)  # (batch, dim)
    y = torch.stack(ys, dim=-1)
    out = _finish(y, u, D, z, dtype_in)
    return (out, x) if return_last_state else out


def _chunk_forward(u, delta, A, Bd, Cd, rst, chunk):
    """Forward-direction closed form per chunk. Returns y (batch, dim, length) and the last state."""
    batch, dim, length = u.shape
    state = A.shape[1]
    x = u.new_zeros(batch, dim, state)
    ys = []
    for start in range(0, length, chunk):
        stop = min(start + chunk, length)
        dt = delta[:, :, start:stop]  # (batch, dim, T)
        T = stop - start
        S = torch.cumsum(dt.unsqueeze(-1) * A[None, :, None, :], dim=2)  # (batch, dim, T, state)
        drive = (dt * u[:, :, start:stop]).unsqueeze(-1) * Bd[:, :, :, start:stop].transpose(2, 3)
        # segment id inside the chunk: increments at every reset; -1 marks "before the chunk"
        if rst is None:
            seg = torch.zeros(batch, T, dtype=torch.long, device=u.device)
        else:
            seg = torch.cumsum(rst[:, start:stop].long(), dim=1)
        same = seg[:, :, None] == seg[:, None, :]  # (batch, T, T): t and s in the same sequence
        causal = torch.ones(T, T, dtype=torch.bool, device=u.device).tril()
        allowed = (same & causal)[:, None, :, :, None]  # (batch, 1, T(t), T(s), 1)
        diff = S[:, :, :, None, :] - S[:, :, None, :, :]  # (batch, dim, t, s, state) = S_t - S_s
        w = torch.exp(diff.masked_fill(~allowed, float("-inf")))
        xs = (w * drive[:, :, None, :, :]).sum(3)  # (batch, dim, T, state)
        carry_ok = (seg == 0)[:, None, :, None].to(u.dtype)  # no reset between chunk start and t
        xs = xs + torch.exp(S) * x[:, :, None, :] * carry_ok
        ys.append((xs * Cd[:, :, :, start:stop].transpose(2, 3)).sum(-1))
        x = xs[:, :, -1, :]
    return torch.cat(ys, dim=-1), x


def selective_scan_chunked(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    z=None,
    delta_bias=None,
    delta_softplus=False,
    return_last_state=False,
    *,
    reverse=False,
    seq_idx=None,
    chunk=8,
):
    """Second formulation (closed form per chunk). Memory O(batch*dim*state*length*chunk): tiny shapes only."""
    dtype_in = u.dtype
    length = u.shape[2]
    u, delta, A, Bd, Cd = _prepare(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    if reverse:
        # reverse by flipping every per-position input; the reset rule flips with it
        flip_seq = None if seq_idx is None else seq_idx.flip(-1)
        rst = reset_mask(flip_seq, length, reverse=False)
        y, x = _chunk_forward(u.flip(-1), delta.flip(-1), A, Bd.flip(-1), Cd.flip(-1), rst, chunk)
        y = y.flip(-1)
    else:
        rst = reset_mask(seq_idx, length, reverse=False)
        y, x = _chunk_forward(u, delta, A, Bd, Cd, rst, chunk)
    out = _finish(y, u, D, z, dtype_in)
    return (out, x) if return_last_state else out
