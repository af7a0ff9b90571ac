"""Triton path: fused selective scan, forward and deterministic backward, chunked along the sequence.

Each program owns (one batch row, BLOCK_D channels, all states) and walks the sequence in chunks of CHUNK
positions. Within a chunk the recurrence x_t = a_t x_{t-1} + b_t is an associative scan over (a, b) pairs
along the chunk axis of a (BLOCK_D, N, CHUNK) tile; the state is carried from chunk to chunk. Fused: delta
bias + softplus, the decay exp(delta*A) (as exp2 with A*log2 e), the C contraction, the D skip and the silu(z)
gate. ``reverse`` runs the chunks from the end with reversed offsets (no copies); ``seq_idx`` zeroes the decay
where the sequence id changes, so the state never crosses a boundary.

Backward recomputes each chunk's states from the state saved at its start (forward checkpoints,
batch*dim*state*length/CHUNK floats) and runs the adjoint h_t = g_t + a_{t+1} h_{t+1} as a reverse scan.
The decay gradient uses a_t x_{t-1} = x_t - b_t, so no shifted state is needed. Deterministic: every output
element is written by one program; the channel sums for dB/dC go to one partial per channel block, summed by
torch in a fixed order (no atomics).

Tiers: kernels (``@triton.jit``) -> launchers (``_fwd`` / ``_bwd``) -> ``autograd.Function`` -> public
``selective_scan_triton``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from genomamba_kernels._autotune import autotune_configs, interpreting
from triton.language.standard import _sum_combine

__all__ = ["selective_scan_triton"]

LOG2E = 1.4426950408889634


def _configs() -> list[triton.Config]:
    return autotune_configs([triton.Config({}, num_warps=w, num_stages=1) for w in (4, 8, 2)])


@triton.jit
def _combine(a1, b1, a2, b2):
    # (a1, b1) precedes (a2, b2): x -> a2 * (a1 * x + b1) + b2
    return a1 * a2, a2 * b1 + b2


@triton.jit
def _chunk_scan(
    a,
    b,
    offs_t,
    BLOCK_D: tl.constexpr,
    N_PAD: tl.constexpr,
    CHUNK: tl.constexpr,
    REV: tl.constexpr,
    LOOP_SCAN: tl.constexpr,
):
    """Inclusive scan of x -> a*x + b along axis 2 of (BLOCK_D, N, CHUNK) tiles; REV scans from the end.

    LOOP_SCAN: step through the chunk column by column (O(CHUNK^2) selects). Only for the Triton interpreter,
    whose generic associative_scan runs the combine function per element in Python; on a GPU (and in one
    small interpreter test) the tree scan ``tl.associative_scan`` is used. (Sums are written as
    ``tl.reduce(..., _sum_combine)`` throughout: the interpreter re-patches the language on every call of a
    jitted helper such as ``tl.sum``, ~1 ms each, and has a numpy fast path for this combine function.)
    """
    if LOOP_SCAN:
        acc_a = tl.full((BLOCK_D, N_PAD), 1.0, tl.float32)
        acc_b = tl.zeros((BLOCK_D, N_PAD), dtype=tl.float32)
        aa = tl.zeros((BLOCK_D, N_PAD, CHUNK), dtype=tl.float32)
        xx = tl.zeros((BLOCK_D, N_PAD, CHUNK), dtype=tl.float32)
        for i in tl.static_range(CHUNK):
            if REV:
                k = CHUNK - 1 - i
            else:
                k = i
            sel = (offs_t == k)[None, None, :]
            a_k = tl.reduce(tl.where(sel, a, 0.0), 2, _sum_combine)
            b_k = tl.reduce(tl.where(sel, b, 0.0), 2, _sum_combine)
            acc_b = a_k * acc_b + b_k
            acc_a = acc_a * a_k
            aa = tl.where(sel, acc_a[:, :, None], aa)
            xx = tl.where(sel, acc_b[:, :, None], xx)
    else:
        aa, xx = tl.associative_scan((a, b), axis=2, combine_fn=_combine, reverse=REV)
    return aa, xx


@triton.jit
def _discretise(v, SOFTPLUS: tl.constexpr):
    # softplus above 20 is the identity (as mamba-ssm); log(1 + exp(-|v|)) + max(v, 0) avoids overflow
    if SOFTPLUS:
        v = tl.where(v <= 20.0, tl.maximum(v, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(v))), v)
    return v


@triton.autotune(configs=_configs(), key=["dim", "nstate", "BLOCK_D", "CHUNK"])
@triton.jit
def _scan_fwd_kernel(
    # pointers
    u_ptr,
    dt_ptr,
    A_ptr,
    B_ptr,
    C_ptr,
    D_ptr,
    z_ptr,
    bias_ptr,
    seq_ptr,
    out_ptr,
    last_ptr,
    ckpt_ptr,
    # sizes
    dim,
    length,
    nstate,
    dpg,
    nchunks,
    # strides (elements)
    s_u_b,
    s_u_d,
    s_u_l,
    s_dt_b,
    s_dt_d,
    s_dt_l,
    s_z_b,
    s_z_d,
    s_z_l,
    s_o_b,
    s_o_d,
    s_o_l,
    s_B_b,
    s_B_g,
    s_B_n,
    s_B_l,
    s_C_b,
    s_C_g,
    s_C_n,
    s_C_l,
    s_seq_b,
    s_seq_l,
    # meta
    HAS_D: tl.constexpr,
    HAS_Z: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    HAS_SEQ: tl.constexpr,
    SOFTPLUS: tl.constexpr,
    REVERSE: tl.constexpr,
    SAVE_CKPT: tl.constexpr,
    BLOCK_D: tl.constexpr,
    N_PAD: tl.constexpr,
    CHUNK: tl.constexpr,
    LOOP_SCAN: tl.constexpr,
):
    pid_b = tl.program_id(0)
    pid_d = tl.program_id(1)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, N_PAD)
    offs_t = tl.arange(0, CHUNK)
    mask_d = offs_d < dim
    mask_dn = mask_d[:, None] & (offs_n < nstate)[None, :]
    grp = (pid_d * BLOCK_D) // dpg  # the launcher guarantees a block never spans two groups
    A2 = (
        tl.load(A_ptr + offs_d[:, None] * nstate + offs_n[None, :], mask=mask_dn, other=0.0).to(tl.float32)
        * 1.4426950408889634
    )
    if HAS_D:
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    u_row = u_ptr + pid_b * s_u_b + offs_d[:, None] * s_u_d
    dt_row = dt_ptr + pid_b * s_dt_b + offs_d[:, None] * s_dt_d
    z_row = z_ptr + pid_b * s_z_b + offs_d[:, None] * s_z_d
    o_row = out_ptr + pid_b * s_o_b + offs_d[:, None] * s_o_d
    B_row = B_ptr + pid_b * s_B_b + grp * s_B_g + offs_n[:, None] * s_B_n  # (N, 1)
    C_row = C_ptr + pid_b * s_C_b + grp * s_C_g + offs_n[:, None] * s_C_n
    mask_n1 = (offs_n < nstate)[:, None]
    x = tl.zeros((BLOCK_D, N_PAD), dtype=tl.float32)
    for c in range(0, nchunks):
        t = c * CHUNK + offs_t
        mask_t = t < length
        if REVERSE:
            pos = length - 1 - t
        else:
            pos = t
        m2 = mask_d[:, None] & mask_t[None, :]
        dt = tl.load(dt_row + pos[None, :] * s_dt_l, mask=m2, other=0.0).to(tl.float32)
        if HAS_BIAS:
            dt += bias[:, None]
        dt = tl.where(m2, _discretise(dt, SOFTPLUS), 0.0)  # padding: dt = 0 -> decay 1, input 0: state kept
        u = tl.load(u_row + pos[None, :] * s_u_l, mask=m2, other=0.0).to(tl.float32)
        mnt = mask_n1 & mask_t[None, :]
        Bv = tl.load(B_row + pos[None, :] * s_B_l, mask=mnt, other=0.0).to(tl.float32)  # (N, CHUNK)
        Cv = tl.load(C_row + pos[None, :] * s_C_l, mask=mnt, other=0.0).to(tl.float32)
        a = tl.exp2(dt[:, None, :] * A2[:, :, None])  # (BLOCK_D, N, CHUNK)
        if HAS_SEQ:
            if REVERSE:
                prev = pos + 1
            else:
                prev = pos - 1
            has_prev = mask_t & (t > 0)
            sq = tl.load(seq_ptr + pid_b * s_seq_b + pos * s_seq_l, mask=mask_t, other=0)
            sqp = tl.load(seq_ptr + pid_b * s_seq_b + prev * s_seq_l, mask=has_prev, other=0)
            rst = has_prev & (sq != sqp)
            a = tl.where(rst[None, None, :], 0.0, a)
        bu = (dt * u)[:, None, :] * Bv[None, :, :]
        if SAVE_CKPT:
            tl.store(
                ckpt_ptr + ((pid_b * dim + offs_d[:, None]) * nchunks + c) * nstate + offs_n[None, :], x, mask=mask_dn
            )
        aa, xx = _chunk_scan(a, bu, offs_t, BLOCK_D, N_PAD, CHUNK, False, LOOP_SCAN)
        xs = xx + aa * x[:, :, None]
        y = tl.reduce(xs * Cv[None, :, :], 1, _sum_combine)  # (BLOCK_D, CHUNK)
        x = tl.reduce(tl.where((offs_t == CHUNK - 1)[None, None, :], xs, 0.0), 2, _sum_combine)
        if HAS_D:
            y += Dv[:, None] * u
        if HAS_Z:
            zv = tl.load(z_row + pos[None, :] * s_z_l, mask=m2, other=0.0).to(tl.float32)
            y *= zv / (1.0 + tl.exp(-zv))
        tl.store(o_row + pos[None, :] * s_o_l, y.to(out_ptr.dtype.element_ty), mask=m2)
    tl.store(last_ptr + (pid_b * dim + offs_d[:, None]) * nstate + offs_n[None, :], x, mask=mask_dn)


@triton.autotune(configs=_configs(), key=["dim", "nstate", "BLOCK_D", "CHUNK"])
@triton.jit
def _scan_bwd_kernel(
    # pointers: inputs
    u_ptr,
    dt_ptr,
    A_ptr,
    B_ptr,
    C_ptr,
    D_ptr,
    z_ptr,
    bias_ptr,
    seq_ptr,
    ckpt_ptr,
    dout_ptr,
    dlast_ptr,
    # pointers: outputs (du, ddelta, dz like (batch, dim, length) contiguous; partials contiguous)
    du_ptr,
    ddt_ptr,
    dz_ptr,
    dA_ptr,
    dD_ptr,
    dbias_ptr,
    dB_ptr,
    dC_ptr,
    # sizes
    batch,
    dim,
    length,
    nstate,
    dpg,
    nchunks,
    # strides (elements)
    s_u_b,
    s_u_d,
    s_u_l,
    s_dt_b,
    s_dt_d,
    s_dt_l,
    s_z_b,
    s_z_d,
    s_z_l,
    s_do_b,
    s_do_d,
    s_do_l,
    s_B_b,
    s_B_g,
    s_B_n,
    s_B_l,
    s_C_b,
    s_C_g,
    s_C_n,
    s_C_l,
    s_seq_b,
    s_seq_l,
    # meta
    HAS_D: tl.constexpr,
    HAS_Z: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    HAS_SEQ: tl.constexpr,
    HAS_DLAST: tl.constexpr,
    SOFTPLUS: tl.constexpr,
    REVERSE: tl.constexpr,
    BLOCK_D: tl.constexpr,
    N_PAD: tl.constexpr,
    CHUNK: tl.constexpr,
    LOOP_SCAN: tl.constexpr,
):
    pid_b = tl.program_id(0)
    pid_d = tl.program_id(1)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, N_PAD)
    offs_t = tl.arange(0, CHUNK)
    mask_d = offs_d < dim
    mask_dn = mask_d[:, None] & (offs_n < nstate)[None, :]
    grp = (pid_d * BLOCK_D) // dpg
    A = tl.load(A_ptr + offs_d[:, None] * nstate + offs_n[None, :], mask=mask_dn, other=0.0).to(tl.float32)
    A2 = A * 1.4426950408889634
    if HAS_D:
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    u_row = u_ptr + pid_b * s_u_b + offs_d[:, None] * s_u_d
    dt_row = dt_ptr + pid_b * s_dt_b + offs_d[:, None] * s_dt_d
    z_row = z_ptr + pid_b * s_z_b + offs_d[:, None] * s_z_d
    do_row = dout_ptr + pid_b * s_do_b + offs_d[:, None] * s_do_d
    g_row = (pid_b * dim + offs_d[:, None]) * length  # row offset in the contiguous du / ddelta / dz
    B_row = B_ptr + pid_b * s_B_b + grp * s_B_g + offs_n[:, None] * s_B_n
    C_row = C_ptr + pid_b * s_C_b + grp * s_C_g + offs_n[:, None] * s_C_n
    part_row = ((pid_d * batch + pid_b) * nstate + offs_n[:, None]) * length  # (N, 1) in the dB/dC partials
    mask_n1 = (offs_n < nstate)[:, None]
    if HAS_DLAST:
        h = tl.load(dlast_ptr + (pid_b * dim + offs_d[:, None]) * nstate + offs_n[None, :], mask=mask_dn, other=0.0).to(
            tl.float32
        )
    else:
        h = tl.zeros((BLOCK_D, N_PAD), dtype=tl.float32)
    dA_acc = tl.zeros((BLOCK_D, N_PAD), dtype=tl.float32)
    dD_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    db_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    for ci in range(0, nchunks):
        c = nchunks - 1 - ci
        t = c * CHUNK + offs_t
        mask_t = t < length
        tn = t + 1
        mask_tn = tn < length
        if REVERSE:
            pos = length - 1 - t
            pos_n = pos - 1
            prev = pos + 1
        else:
            pos = t
            pos_n = pos + 1
            prev = pos - 1
        m2 = mask_d[:, None] & mask_t[None, :]
        m2n = mask_d[:, None] & mask_tn[None, :]
        m3 = mask_dn[:, :, None] & mask_t[None, None, :]
        v = tl.load(dt_row + pos[None, :] * s_dt_l, mask=m2, other=0.0).to(tl.float32)
        vn = tl.load(dt_row + pos_n[None, :] * s_dt_l, mask=m2n, other=0.0).to(tl.float32)
        if HAS_BIAS:
            v += bias[:, None]
            vn += bias[:, None]
        dt = tl.where(m2, _discretise(v, SOFTPLUS), 0.0)
        dtn = tl.where(m2n, _discretise(vn, SOFTPLUS), 0.0)
        u = tl.load(u_row + pos[None, :] * s_u_l, mask=m2, other=0.0).to(tl.float32)
        dout = tl.load(do_row + pos[None, :] * s_do_l, mask=m2, other=0.0).to(tl.float32)
        mnt = mask_n1 & mask_t[None, :]
        Bv = tl.load(B_row + pos[None, :] * s_B_l, mask=mnt, other=0.0).to(tl.float32)
        Cv = tl.load(C_row + pos[None, :] * s_C_l, mask=mnt, other=0.0).to(tl.float32)
        a = tl.exp2(dt[:, None, :] * A2[:, :, None])
        # decay into the next position in scan order; 1 past the end so the carry (dlast) flows in
        a_next = tl.where(mask_tn[None, None, :], tl.exp2(dtn[:, None, :] * A2[:, :, None]), 1.0)
        if HAS_SEQ:
            sq = tl.load(seq_ptr + pid_b * s_seq_b + pos * s_seq_l, mask=mask_t, other=0)
            has_prev = mask_t & (t > 0)
            sqp = tl.load(seq_ptr + pid_b * s_seq_b + prev * s_seq_l, mask=has_prev, other=0)
            sqn = tl.load(seq_ptr + pid_b * s_seq_b + pos_n * s_seq_l, mask=mask_tn, other=0)
            a = tl.where((has_prev & (sq != sqp))[None, None, :], 0.0, a)
            a_next = tl.where((mask_tn & (sq != sqn))[None, None, :], 0.0, a_next)
        dtu = dt * u
        bu = dtu[:, None, :] * Bv[None, :, :]
        x0 = tl.load(
            ckpt_ptr + ((pid_b * dim + offs_d[:, None]) * nchunks + c) * nstate + offs_n[None, :],
            mask=mask_dn,
            other=0.0,
        )
        aa, xx = _chunk_scan(a, bu, offs_t, BLOCK_D, N_PAD, CHUNK, False, LOOP_SCAN)
        xs = xx + aa * x0[:, :, None]
        gy = dout
        if HAS_Z:
            zv = tl.load(z_row + pos[None, :] * s_z_l, mask=m2, other=0.0).to(tl.float32)
            sg = 1.0 / (1.0 + tl.exp(-zv))
            yfull = tl.reduce(xs * Cv[None, :, :], 1, _sum_combine)
            if HAS_D:
                yfull += Dv[:, None] * u
            tl.store(dz_ptr + g_row + pos[None, :], dout * yfull * sg * (1.0 + zv * (1.0 - sg)), mask=m2)
            gy = dout * zv * sg
        if HAS_D:
            dD_acc += tl.reduce(gy * u, 1, _sum_combine)
            du = gy * Dv[:, None]
        else:
            du = tl.zeros((BLOCK_D, CHUNK), dtype=tl.float32)
        g = gy[:, None, :] * Cv[None, :, :]
        pp, hh = _chunk_scan(a_next, g, offs_t, BLOCK_D, N_PAD, CHUNK, True, LOOP_SCAN)
        hs = tl.where(m3, hh + pp * h[:, :, None], 0.0)  # dLoss/dx_t, zero on padding
        h = tl.reduce(tl.where((offs_t == 0)[None, None, :], hh + pp * h[:, :, None], 0.0), 2, _sum_combine)
        ga = hs * (xs - bu)  # dLoss/d(delta*A) = h_t * a_t * x_{t-1}, and a_t x_{t-1} = x_t - b_t
        ddt = tl.reduce(ga * A[:, :, None], 1, _sum_combine)
        dA_acc += tl.reduce(ga * dt[:, None, :], 2, _sum_combine)
        hb = tl.reduce(hs * Bv[None, :, :], 1, _sum_combine)
        ddt += hb * u
        du += hb * dt
        if SOFTPLUS:
            ddt = tl.where(v <= 20.0, ddt / (1.0 + tl.exp(-v)), ddt)
        ddt = tl.where(m2, ddt, 0.0)
        db_acc += tl.reduce(ddt, 1, _sum_combine)
        tl.store(du_ptr + g_row + pos[None, :], du, mask=m2)
        tl.store(ddt_ptr + g_row + pos[None, :], ddt, mask=m2)
        # channel sums of this block for dB, dC at these positions
        dBc = tl.reduce(hs * dtu[:, None, :], 0, _sum_combine)  # (N, CHUNK)
        dCc = tl.reduce(gy[:, None, :] * tl.where(m3, xs, 0.0), 0, _sum_combine)
        tl.store(dB_ptr + part_row + pos[None, :], dBc, mask=mnt)
        tl.store(dC_ptr + part_row + pos[None, :], dCc, mask=mnt)
    tl.store(dA_ptr + (pid_b * dim + offs_d[:, None]) * nstate + offs_n[None, :], dA_acc, mask=mask_dn)
    if HAS_D:
        tl.store(dD_ptr + pid_b * dim + offs_d, dD_acc, mask=mask_d)
    if HAS_BIAS:
        tl.store(dbias_ptr + pid_b * dim + offs_d, db_acc, mask=mask_d)


# ----------------------------------------------------------------------------------------------- launchers


def _block_d(dim: int, groups: int) -> int:
    """Channels per program: a power of two that never straddles a B/C group boundary."""
    cap = 8 if interpreting() else 16
    if groups == 1:
        return min(cap, triton.next_power_of_2(dim))
    dpg = dim // groups
    block = 1
    while block * 2 <= cap and dpg % (block * 2) == 0:
        block *= 2
    return block


def _loop_scan() -> bool:
    """Column-loop chunk scan in the interpreter (fast there) unless GENOMAMBA_TRITON_SCAN=assoc forces the tree."""
    import os

    forced = os.environ.get("GENOMAMBA_TRITON_SCAN", "")
    if forced not in ("", "assoc", "loop"):
        raise ValueError(f"GENOMAMBA_TRITON_SCAN must be 'assoc' or 'loop', got {forced!r}")
    return forced == "loop" or (forced == "" and interpreting())


def _chunk() -> int:
    return 16 if interpreting() else 32


def _fwd(u, delta, A, B, C, D, z, delta_bias, seq_idx, softplus, reverse, save):
    batch, dim, length = u.shape
    state, groups = A.shape[1], B.shape[1]
    block_d, chunk = _block_d(dim, groups), _chunk()
    nchunks = triton.cdiv(length, chunk)
    out = torch.empty_like(u)
    last = torch.empty(batch, dim, state, device=u.device, dtype=torch.float32)
    ckpt = torch.empty(batch, dim, nchunks, state, device=u.device, dtype=torch.float32) if save else last
    zz = z if z is not None else u
    sq = seq_idx if seq_idx is not None else torch.zeros(1, 1, dtype=torch.int64, device=u.device)
    grid = (batch, triton.cdiv(dim, block_d))
    _scan_fwd_kernel[grid](
        u,
        delta,
        A,
        B,
        C,
        D if D is not None else A,
        zz,
        delta_bias if delta_bias is not None else A,
        sq,
        out,
        last,
        ckpt,
        dim,
        length,
        state,
        dim // groups,
        nchunks,
        *u.stride(),
        *delta.stride(),
        *zz.stride(),
        *out.stride(),
        *B.stride(),
        *C.stride(),
        *sq.stride(),
        HAS_D=D is not None,
        HAS_Z=z is not None,
        HAS_BIAS=delta_bias is not None,
        HAS_SEQ=seq_idx is not None,
        SOFTPLUS=bool(softplus),
        REVERSE=bool(reverse),
        SAVE_CKPT=bool(save),
        BLOCK_D=block_d,
        N_PAD=triton.next_power_of_2(state),
        CHUNK=chunk,
        LOOP_SCAN=_loop_scan(),
    )
    return out, last, (ckpt if save else None)


def _bwd(u, delta, A, B, C, D, z, delta_bias, seq_idx, ckpt, dout, dlast, softplus, reverse):
    batch, dim, length = u.shape
    state, groups = A.shape[1], B.shape[1]
    block_d, chunk = _block_d(dim, groups), _chunk()
    nchunks = triton.cdiv(length, chunk)
    nblocks = triton.cdiv(dim, block_d)
    f32 = dict(device=u.device, dtype=torch.float32)
    du = torch.empty(batch, dim, length, **f32)
    ddelta = torch.empty(batch, dim, length, **f32)
    dz = torch.empty(batch, dim, length, **f32) if z is not None else du
    dA_part = torch.empty(batch, dim, state, **f32)
    dD_part = torch.empty(batch, dim, **f32)
    dbias_part = torch.empty(batch, dim, **f32)
    dB_part = torch.empty(nblocks, batch, state, length, **f32)
    dC_part = torch.empty(nblocks, batch, state, length, **f32)
    zz = z if z is not None else u
    sq = seq_idx if seq_idx is not None else torch.zeros(1, 1, dtype=torch.int64, device=u.device)
    grid = (batch, nblocks)
    _scan_bwd_kernel[grid](
        u,
        delta,
        A,
        B,
        C,
        D if D is not None else A,
        zz,
        delta_bias if delta_bias is not None else A,
        sq,
        ckpt,
        dout,
        dlast if dlast is not None else A,
        du,
        ddelta,
        dz,
        dA_part,
        dD_part,
        dbias_part,
        dB_part,
        dC_part,
        batch,
        dim,
        length,
        state,
        dim // groups,
        nchunks,
        *u.stride(),
        *delta.stride(),
        *zz.stride(),
        *dout.stride(),
        *B.stride(),
        *C.stride(),
        *sq.stride(),
        HAS_D=D is not None,
        HAS_Z=z is not None,
        HAS_BIAS=delta_bias is not None,
        HAS_SEQ=seq_idx is not None,
        HAS_DLAST=dlast is not None,
        SOFTPLUS=bool(softplus),
        REVERSE=bool(reverse),
        BLOCK_D=block_d,
        N_PAD=triton.next_power_of_2(state),
        CHUNK=chunk,
        LOOP_SCAN=_loop_scan(),
    )
    # channel blocks -> groups (a block never spans two groups), then a fixed-order sum
    per_group = nblocks // groups
    dB = dB_part.view(groups, per_group, batch, state, length).sum(1).permute(1, 0, 2, 3)
    dC = dC_part.view(groups, per_group, batch, state, length).sum(1).permute(1, 0, 2, 3)
    return (
        du,
        ddelta,
        dA_part.sum(0),
        dB,
        dC,
        dD_part.sum(0) if D is not None else None,
        dz if z is not None else None,
        dbias_part.sum(0) if delta_bias is not None else None,
    )


# ------------------------------------------------------------------------------------------------ autograd


class _TritonSelectiveScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, seq_idx, softplus, reverse, save):
        out, last, ckpt = _fwd(u, delta, A, B, C, D, z, delta_bias, seq_idx, softplus, reverse, save)
        if save:
            ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, seq_idx, ckpt)
            ctx.flags = (softplus, reverse)
        return out, last

    @staticmethod
    def backward(ctx, dout, dlast):
        u, delta, A, B, C, D, z, delta_bias, seq_idx, ckpt = ctx.saved_tensors
        softplus, reverse = ctx.flags
        grads = _bwd(u, delta, A, B, C, D, z, delta_bias, seq_idx, ckpt, dout, dlast, softplus, reverse)
        return (*grads, None, None, None, None)


def selective_scan_triton(
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
    """Fused Triton selective scan; arguments and result as :func:`genomamba.ops.selective_scan`.

    u, delta, z, B, C keep their dtype (fp32/bf16/fp16) and strides; computation is fp32; out has u's dtype.
    """
    B4 = B if B.dim() == 4 else B.unsqueeze(1)
    C4 = C if C.dim() == 4 else C.unsqueeze(1)
    if B4.shape[1] != C4.shape[1]:
        raise ValueError(f"B and C must have the same number of groups, got {B4.shape[1]} and {C4.shape[1]}")
    A = A.float().contiguous()
    D = D.float().contiguous() if D is not None else None
    delta_bias = delta_bias.float().contiguous() if delta_bias is not None else None
    seq = seq_idx.to(torch.int64) if seq_idx is not None else None
    tensors = (u, delta, A, B4, C4, D, z, delta_bias)
    save = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    out, last = _TritonSelectiveScan.apply(*tensors, seq, bool(delta_softplus), bool(reverse), save)
    return (out, last) if return_last_state else out
