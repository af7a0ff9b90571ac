"""Triton path for the SSD scan: chunked kernels, forward and deterministic backward, parallel over chunks.

The sequence is cut into chunks of CHUNK positions (in scan order; ``reverse`` maps scan index t to position
L-1-t in the loads and stores, no copies). Per chunk and head, with S_t the within-chunk cumulative sum of
dt*A (computed as a masked (CHUNK x CHUNK) sum):

    forward
      _chunk_state_fwd_kernel   local = (x o w)^T B, w_s = exp(S_last - S_s) dt_s     grid (chunks, b*h, p-blocks)
                                g = exp(S_last) (0 if the chunk holds a reset)
      _state_passing_kernel     h_in[c] = state entering chunk c (sequential over chunks, elementwise, in place)
      _chunk_scan_fwd_kernel    y = (C B^T o L o dt_s) x + exp(S_t) C h_in^T           grid (chunks, b*h, p-blocks)
    backward
      _chunk_dstate_kernel      u = (dy o exp(S))^T C: the chunk's direct gradient on its entering state
      _state_passing_kernel     the same recurrence from the end: dh_end[c] = gradient on chunk c's final state
      _chunk_scan_bwd_kernel    dx, ddt, dB, dC, dA of each chunk from h_in[c] and dh_end[c]

``seq_idx`` boundaries: a reset at position t zeroes the decay into t, so within a chunk only pairs in one
segment interact, the carry enters only the chunk's first segment and only its last segment leaves.
Deterministic: every output element is written by exactly one program; sums over head-dim blocks and over the
heads of a B/C group go to partial buffers that torch reduces in a fixed order (no atomics).
dt softplus/bias, the D skip and the gate are applied around the op in plain torch.

Tiers: kernels (``@triton.jit``) -> launchers (``_fwd`` / ``_bwd``) -> ``autograd.Function`` -> public
``ssd_triton``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from genomamba_kernels._autotune import autotune_configs, interpreting
from genomamba_kernels.ssd_reference import finish, prepare_dt
from triton.language.standard import _sum_combine

__all__ = ["ssd_triton"]


def _configs() -> list[triton.Config]:
    return autotune_configs([triton.Config({}, num_warps=w, num_stages=1) for w in (4, 8, 2)])


@triton.jit
def _dot(a, b, LOWP: tl.constexpr):
    # fp32: exact ("ieee") products; LOWP: bf16 operands, fp32 accumulation (tensor cores)
    if LOWP:
        r = tl.dot(a.to(tl.bfloat16), b.to(tl.bfloat16))
    else:
        r = tl.dot(a, b, input_precision="ieee")
    return r


@triton.jit
def _chunk_setup(
    dt_ptr,
    A_ptr,
    seq_ptr,
    pid_b,
    pid_h,
    pid_c,
    length,
    s_dt_b,
    s_dt_l,
    s_dt_h,
    s_seq_b,
    s_seq_l,
    HAS_SEQ: tl.constexpr,
    REVERSE: tl.constexpr,
    CHUNK: tl.constexpr,
):
    """Positions, dt, cumulative log decay S and segment numbers of one chunk (all (CHUNK,) vectors).

    Sums are ``tl.reduce(..., _sum_combine)``: the interpreter re-patches the language on every call of a
    jitted helper such as ``tl.sum`` (~1 ms each) and has a numpy fast path for this combine function.
    """
    offs_t = tl.arange(0, CHUNK)
    t = pid_c * CHUNK + offs_t
    valid = t < length
    if REVERSE:
        pos = length - 1 - t
        prev = pos + 1
    else:
        pos = t
        prev = pos - 1
    pos = tl.where(valid, pos, 0)
    dt = tl.load(dt_ptr + pid_b * s_dt_b + pos * s_dt_l + pid_h * s_dt_h, mask=valid, other=0.0).to(tl.float32)
    A = tl.load(A_ptr + pid_h).to(tl.float32)
    tril = offs_t[None, :] <= offs_t[:, None]  # [t, s]: s <= t
    S = tl.reduce(tl.where(tril, (dt * A)[None, :], 0.0), 1, _sum_combine)  # inclusive cumsum of dt * A
    if HAS_SEQ:
        has_prev = valid & (t > 0)
        sq = tl.load(seq_ptr + pid_b * s_seq_b + pos * s_seq_l, mask=valid, other=0)
        sqp = tl.load(seq_ptr + pid_b * s_seq_b + prev * s_seq_l, mask=has_prev, other=0)
        rst = tl.where(has_prev & (sq != sqp), 1.0, 0.0)
        seg = tl.reduce(tl.where(tril, rst[None, :], 0.0), 1, _sum_combine)
    else:
        seg = tl.zeros((CHUNK,), dtype=tl.float32)
    return offs_t, pos, valid, dt, A, S, seg


@triton.jit
def _load_tile(ptr, base, pos, valid, s_l, offs_c, s_c, n_c):
    """(CHUNK, BLOCK) tile of a (.., length, .., channels) tensor at positions ``pos``, channels ``offs_c``."""
    mask = valid[:, None] & (offs_c < n_c)[None, :]
    return tl.load(ptr + base + pos[:, None] * s_l + offs_c[None, :] * s_c, mask=mask, other=0.0).to(tl.float32)


@triton.autotune(configs=_configs(), key=["headdim", "nstate", "CHUNK", "BLOCK_P", "BLOCK_N"])
@triton.jit
def _chunk_state_fwd_kernel(
    # pointers
    x_ptr,
    dt_ptr,
    A_ptr,
    B_ptr,
    seq_ptr,
    states_ptr,
    g_ptr,
    # sizes
    length,
    nheads,
    headdim,
    nstate,
    heads_per_group,
    nchunks,
    # strides (elements)
    s_x_b,
    s_x_l,
    s_x_h,
    s_x_p,
    s_dt_b,
    s_dt_l,
    s_dt_h,
    s_B_b,
    s_B_l,
    s_B_g,
    s_B_n,
    s_seq_b,
    s_seq_l,
    # meta
    HAS_SEQ: tl.constexpr,
    REVERSE: tl.constexpr,
    LOWP: tl.constexpr,
    CHUNK: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    pid_c = tl.program_id(0)
    pid_bh = tl.program_id(1)
    pid_p = tl.program_id(2)
    pid_b = (pid_bh // nheads).to(tl.int64)
    pid_h = pid_bh % nheads
    grp = pid_h // heads_per_group
    offs_t, pos, valid, dt, A, S, seg = _chunk_setup(
        dt_ptr, A_ptr, seq_ptr, pid_b, pid_h, pid_c, length, s_dt_b, s_dt_l, s_dt_h, s_seq_b, s_seq_l,
        HAS_SEQ, REVERSE, CHUNK,
    )  # fmt: skip
    offs_p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_n = tl.arange(0, BLOCK_N)
    S_last = tl.reduce(dt * A, 0, _sum_combine)
    seg_last = tl.reduce(tl.where(offs_t == CHUNK - 1, seg, 0.0), 0, _sum_combine)
    w = tl.where(valid & (seg == seg_last), tl.exp(S_last - S) * dt, 0.0)
    x = _load_tile(x_ptr, pid_b * s_x_b + pid_h * s_x_h, pos, valid, s_x_l, offs_p, s_x_p, headdim)
    Bm = _load_tile(B_ptr, pid_b * s_B_b + grp * s_B_g, pos, valid, s_B_l, offs_n, s_B_n, nstate)
    local = _dot(tl.trans(x * w[:, None]), Bm, LOWP)  # (BLOCK_P, BLOCK_N)
    row = ((pid_b * nchunks + pid_c) * nheads + pid_h) * headdim
    mask_pn = (offs_p < headdim)[:, None] & (offs_n < nstate)[None, :]
    tl.store(states_ptr + (row + offs_p[:, None]) * nstate + offs_n[None, :], local, mask=mask_pn)
    if pid_p == 0:
        g = tl.where(seg_last == 0.0, tl.exp(S_last), 0.0)
        tl.store(g_ptr + (pid_b * nheads + pid_h) * nchunks + pid_c, g)


@triton.jit
def _state_passing_kernel(
    s_ptr,
    g_ptr,
    init_ptr,
    out_ptr,
    final_ptr,
    nheads,
    nchunks,
    size,  # headdim * nstate
    HAS_INIT: tl.constexpr,
    REVERSE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """cur = init; for each chunk c in scan order (from the end if REVERSE): out[c] = cur; cur = g[c] cur + s[c].

    s, out: (batch, chunks, heads, size) contiguous, out may alias s (each element is read before written,
    by the same program); g: (batch, heads, chunks); init, final: (batch, heads, size).
    """
    pid_bh = tl.program_id(0).to(tl.int64)
    pid_e = tl.program_id(1)
    pid_b = pid_bh // nheads
    pid_h = pid_bh % nheads
    offs = pid_e * BLOCK + tl.arange(0, BLOCK)
    mask = offs < size
    if HAS_INIT:
        cur = tl.load(init_ptr + pid_bh * size + offs, mask=mask, other=0.0).to(tl.float32)
    else:
        cur = tl.zeros((BLOCK,), dtype=tl.float32)
    for k in range(0, nchunks):
        if REVERSE:
            c = nchunks - 1 - k
        else:
            c = k
        at = ((pid_b * nchunks + c) * nheads + pid_h) * size + offs
        s = tl.load(s_ptr + at, mask=mask, other=0.0)
        g = tl.load(g_ptr + pid_bh * nchunks + c)
        tl.store(out_ptr + at, cur, mask=mask)
        cur = g * cur + s
    tl.store(final_ptr + pid_bh * size + offs, cur, mask=mask)


@triton.autotune(configs=_configs(), key=["headdim", "nstate", "CHUNK", "BLOCK_P", "BLOCK_N"])
@triton.jit
def _chunk_scan_fwd_kernel(
    # pointers
    x_ptr,
    dt_ptr,
    A_ptr,
    B_ptr,
    C_ptr,
    seq_ptr,
    states_ptr,
    y_ptr,
    # sizes
    length,
    nheads,
    headdim,
    nstate,
    heads_per_group,
    nchunks,
    # strides (elements); y is contiguous (batch, length, heads, headdim)
    s_x_b,
    s_x_l,
    s_x_h,
    s_x_p,
    s_dt_b,
    s_dt_l,
    s_dt_h,
    s_B_b,
    s_B_l,
    s_B_g,
    s_B_n,
    s_C_b,
    s_C_l,
    s_C_g,
    s_C_n,
    s_seq_b,
    s_seq_l,
    # meta
    HAS_SEQ: tl.constexpr,
    REVERSE: tl.constexpr,
    LOWP: tl.constexpr,
    CHUNK: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    pid_c = tl.program_id(0)
    pid_bh = tl.program_id(1)
    pid_p = tl.program_id(2)
    pid_b = (pid_bh // nheads).to(tl.int64)
    pid_h = pid_bh % nheads
    grp = pid_h // heads_per_group
    offs_t, pos, valid, dt, A, S, seg = _chunk_setup(
        dt_ptr, A_ptr, seq_ptr, pid_b, pid_h, pid_c, length, s_dt_b, s_dt_l, s_dt_h, s_seq_b, s_seq_l,
        HAS_SEQ, REVERSE, CHUNK,
    )  # fmt: skip
    offs_p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_n = tl.arange(0, BLOCK_N)
    x = _load_tile(x_ptr, pid_b * s_x_b + pid_h * s_x_h, pos, valid, s_x_l, offs_p, s_x_p, headdim)
    Bm = _load_tile(B_ptr, pid_b * s_B_b + grp * s_B_g, pos, valid, s_B_l, offs_n, s_B_n, nstate)
    Cm = _load_tile(C_ptr, pid_b * s_C_b + grp * s_C_g, pos, valid, s_C_l, offs_n, s_C_n, nstate)
    row = ((pid_b * nchunks + pid_c) * nheads + pid_h) * headdim
    mask_pn = (offs_p < headdim)[:, None] & (offs_n < nstate)[None, :]
    h0 = tl.load(states_ptr + (row + offs_p[:, None]) * nstate + offs_n[None, :], mask=mask_pn, other=0.0)
    pair = (offs_t[None, :] <= offs_t[:, None]) & (seg[:, None] == seg[None, :])  # [t, s]
    Lm = tl.exp(tl.where(pair, S[:, None] - S[None, :], float("-inf")))
    M = _dot(Cm, tl.trans(Bm), LOWP) * Lm * dt[None, :]  # (CHUNK, CHUNK)
    e = tl.where(seg == 0.0, tl.exp(S), 0.0)
    y = _dot(M, x, LOWP) + e[:, None] * _dot(Cm, tl.trans(h0), LOWP)
    y_at = ((pid_b * length + pos) * nheads + pid_h) * headdim
    tl.store(y_ptr + y_at[:, None] + offs_p[None, :], y, mask=valid[:, None] & (offs_p < headdim)[None, :])


@triton.autotune(configs=_configs(), key=["headdim", "nstate", "CHUNK", "BLOCK_P", "BLOCK_N"])
@triton.jit
def _chunk_dstate_kernel(
    # pointers
    dy_ptr,
    dt_ptr,
    A_ptr,
    C_ptr,
    seq_ptr,
    u_ptr,
    # sizes
    length,
    nheads,
    headdim,
    nstate,
    heads_per_group,
    nchunks,
    # strides (elements)
    s_dy_b,
    s_dy_l,
    s_dy_h,
    s_dy_p,
    s_dt_b,
    s_dt_l,
    s_dt_h,
    s_C_b,
    s_C_l,
    s_C_g,
    s_C_n,
    s_seq_b,
    s_seq_l,
    # meta
    HAS_SEQ: tl.constexpr,
    REVERSE: tl.constexpr,
    LOWP: tl.constexpr,
    CHUNK: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    pid_c = tl.program_id(0)
    pid_bh = tl.program_id(1)
    pid_p = tl.program_id(2)
    pid_b = (pid_bh // nheads).to(tl.int64)
    pid_h = pid_bh % nheads
    grp = pid_h // heads_per_group
    offs_t, pos, valid, dt, A, S, seg = _chunk_setup(
        dt_ptr, A_ptr, seq_ptr, pid_b, pid_h, pid_c, length, s_dt_b, s_dt_l, s_dt_h, s_seq_b, s_seq_l,
        HAS_SEQ, REVERSE, CHUNK,
    )  # fmt: skip
    offs_p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_n = tl.arange(0, BLOCK_N)
    dy = _load_tile(dy_ptr, pid_b * s_dy_b + pid_h * s_dy_h, pos, valid, s_dy_l, offs_p, s_dy_p, headdim)
    Cm = _load_tile(C_ptr, pid_b * s_C_b + grp * s_C_g, pos, valid, s_C_l, offs_n, s_C_n, nstate)
    e = tl.where(valid & (seg == 0.0), tl.exp(S), 0.0)
    u = _dot(tl.trans(dy * e[:, None]), Cm, LOWP)  # (BLOCK_P, BLOCK_N)
    row = ((pid_b * nchunks + pid_c) * nheads + pid_h) * headdim
    mask_pn = (offs_p < headdim)[:, None] & (offs_n < nstate)[None, :]
    tl.store(u_ptr + (row + offs_p[:, None]) * nstate + offs_n[None, :], u, mask=mask_pn)


@triton.autotune(configs=_configs(), key=["headdim", "nstate", "CHUNK", "BLOCK_P", "BLOCK_N"])
@triton.jit
def _chunk_scan_bwd_kernel(
    # pointers: inputs
    x_ptr,
    dt_ptr,
    A_ptr,
    B_ptr,
    C_ptr,
    seq_ptr,
    states_ptr,
    dstates_ptr,
    dy_ptr,
    # pointers: outputs (dx contiguous like x; partials contiguous)
    dx_ptr,
    ddt_ptr,
    dB_ptr,
    dC_ptr,
    dA_ptr,
    # sizes
    batch,
    length,
    nheads,
    headdim,
    nstate,
    heads_per_group,
    nchunks,
    # strides (elements)
    s_x_b,
    s_x_l,
    s_x_h,
    s_x_p,
    s_dt_b,
    s_dt_l,
    s_dt_h,
    s_B_b,
    s_B_l,
    s_B_g,
    s_B_n,
    s_C_b,
    s_C_l,
    s_C_g,
    s_C_n,
    s_seq_b,
    s_seq_l,
    s_dy_b,
    s_dy_l,
    s_dy_h,
    s_dy_p,
    # meta
    HAS_SEQ: tl.constexpr,
    REVERSE: tl.constexpr,
    LOWP: tl.constexpr,
    CHUNK: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    pid_c = tl.program_id(0)
    pid_bh = tl.program_id(1)
    pid_p = tl.program_id(2)
    pid_b = (pid_bh // nheads).to(tl.int64)
    pid_h = pid_bh % nheads
    grp = pid_h // heads_per_group
    offs_t, pos, valid, dt, A, S, seg = _chunk_setup(
        dt_ptr, A_ptr, seq_ptr, pid_b, pid_h, pid_c, length, s_dt_b, s_dt_l, s_dt_h, s_seq_b, s_seq_l,
        HAS_SEQ, REVERSE, CHUNK,
    )  # fmt: skip
    offs_p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_n = tl.arange(0, BLOCK_N)
    x = _load_tile(x_ptr, pid_b * s_x_b + pid_h * s_x_h, pos, valid, s_x_l, offs_p, s_x_p, headdim)
    dy = _load_tile(dy_ptr, pid_b * s_dy_b + pid_h * s_dy_h, pos, valid, s_dy_l, offs_p, s_dy_p, headdim)
    Bm = _load_tile(B_ptr, pid_b * s_B_b + grp * s_B_g, pos, valid, s_B_l, offs_n, s_B_n, nstate)
    Cm = _load_tile(C_ptr, pid_b * s_C_b + grp * s_C_g, pos, valid, s_C_l, offs_n, s_C_n, nstate)
    row = ((pid_b * nchunks + pid_c) * nheads + pid_h) * headdim
    mask_pn = (offs_p < headdim)[:, None] & (offs_n < nstate)[None, :]
    pn = (row + offs_p[:, None]) * nstate + offs_n[None, :]
    h0 = tl.load(states_ptr + pn, mask=mask_pn, other=0.0)  # state entering the chunk
    dh = tl.load(dstates_ptr + pn, mask=mask_pn, other=0.0)  # gradient on the chunk's final state
    # decays, as in the forward
    S_last = tl.reduce(dt * A, 0, _sum_combine)
    seg_last = tl.reduce(tl.where(offs_t == CHUNK - 1, seg, 0.0), 0, _sum_combine)
    pair = (offs_t[None, :] <= offs_t[:, None]) & (seg[:, None] == seg[None, :])  # [t, s]
    Lm = tl.exp(tl.where(pair, S[:, None] - S[None, :], float("-inf")))
    e = tl.where(valid & (seg == 0.0), tl.exp(S), 0.0)
    wdec = tl.where(valid & (seg == seg_last), tl.exp(S_last - S), 0.0)
    w = wdec * dt
    g = tl.where(seg_last == 0.0, tl.exp(S_last), 0.0)
    # products
    CBL = _dot(Cm, tl.trans(Bm), LOWP) * Lm  # (t, s)
    M = CBL * dt[None, :]
    dM = _dot(dy, tl.trans(x), LOWP)  # dLoss/dM[t, s] = dy_t . x_s
    dCB = dM * Lm * dt[None, :]
    Bdh = _dot(Bm, tl.trans(dh), LOWP)  # (s, p): B_s . dh[p, :]
    dx = _dot(tl.trans(M), dy, LOWP) + w[:, None] * Bdh
    dC = _dot(dCB, Bm, LOWP) + e[:, None] * _dot(dy, h0, LOWP)
    dB = _dot(tl.trans(dCB), Cm, LOWP) + w[:, None] * _dot(x, dh, LOWP)
    # dt: directly through M and w, and through the cumulative decay S
    dw = tl.reduce(x * Bdh, 1, _sum_combine)
    ddt = tl.reduce(dM * CBL, 0, _sum_combine) + dw * wdec
    Q = dM * M  # dLoss/d(S_t - S_s)
    de = tl.reduce(dy * _dot(Cm, tl.trans(h0), LOWP), 1, _sum_combine)
    dS = tl.reduce(Q, 1, _sum_combine) - tl.reduce(Q, 0, _sum_combine) + de * e - dw * w
    dS_last = tl.reduce(dw * w, 0, _sum_combine) + tl.reduce(tl.reduce(dh * h0, 1, _sum_combine), 0, _sum_combine) * g
    dS += tl.where(offs_t == CHUNK - 1, dS_last, 0.0)
    triu = offs_t[None, :] >= offs_t[:, None]  # [k, t]: t >= k
    da = tl.reduce(tl.where(triu, dS[None, :], 0.0), 1, _sum_combine)  # reverse cumsum
    ddt += da * A
    # stores: every element by exactly one program
    mask_tp = valid[:, None] & (offs_p < headdim)[None, :]
    y_at = ((pid_b * length + pos) * nheads + pid_h) * headdim
    tl.store(dx_ptr + y_at[:, None] + offs_p[None, :], dx, mask=mask_tp)
    part = (pid_p * batch + pid_b) * length + pos  # (CHUNK,) rows of the (p-blocks, batch, length, ...) partials
    tl.store(ddt_ptr + part * nheads + pid_h, ddt, mask=valid)
    mask_tn = valid[:, None] & (offs_n < nstate)[None, :]
    bc_at = (part * nheads + pid_h) * nstate
    tl.store(dB_ptr + bc_at[:, None] + offs_n[None, :], dB, mask=mask_tn)
    tl.store(dC_ptr + bc_at[:, None] + offs_n[None, :], dC, mask=mask_tn)
    dA = tl.reduce(tl.where(valid, da * dt, 0.0), 0, _sum_combine)
    tl.store(dA_ptr + ((pid_p * batch + pid_b) * nheads + pid_h) * nchunks + pid_c, dA)


# ----------------------------------------------------------------------------------------------- launchers


def _geometry(x: torch.Tensor, B: torch.Tensor, chunk_size: int) -> dict:
    batch, length, heads, headdim = x.shape
    nstate = B.shape[-1]
    chunk = max(16, triton.next_power_of_2(chunk_size))  # tl.dot needs power-of-two tiles of at least 16
    if interpreting():
        chunk = 16  # the interpreter's cost grows with the tile area
    block_p = max(16, min(64, triton.next_power_of_2(headdim)))
    return dict(
        batch=batch,
        length=length,
        heads=heads,
        headdim=headdim,
        nstate=nstate,
        groups=B.shape[2],
        chunk=chunk,
        nchunks=triton.cdiv(length, chunk),
        block_p=block_p,
        npb=triton.cdiv(headdim, block_p),
        block_n=max(16, triton.next_power_of_2(nstate)),
    )


def _seq(seq_idx: torch.Tensor | None, device) -> torch.Tensor:
    return seq_idx if seq_idx is not None else torch.zeros(1, 1, dtype=torch.int64, device=device)


def _pass_states(s, g, init, geo, reverse: bool):
    """_state_passing_kernel in place on s (batch, chunks, heads, headdim, state); returns the final state."""
    size = geo["headdim"] * geo["nstate"]
    final = torch.empty(geo["batch"], geo["heads"], geo["headdim"], geo["nstate"], device=s.device)
    block = min(1024, triton.next_power_of_2(size))
    grid = (geo["batch"] * geo["heads"], triton.cdiv(size, block))
    init_arg = init.float().contiguous() if init is not None else final
    _state_passing_kernel[grid](
        s, g, init_arg, s, final, geo["heads"], geo["nchunks"], size,
        HAS_INIT=init is not None, REVERSE=reverse, BLOCK=block,
    )  # fmt: skip
    return final


def _fwd(x, dt, A, B, C, seq_idx, reverse, chunk_size, lowp):
    geo = _geometry(x, B, chunk_size)
    f32 = dict(device=x.device, dtype=torch.float32)
    states = torch.empty(geo["batch"], geo["nchunks"], geo["heads"], geo["headdim"], geo["nstate"], **f32)
    g = torch.empty(geo["batch"], geo["heads"], geo["nchunks"], **f32)
    y = torch.empty(geo["batch"], geo["length"], geo["heads"], geo["headdim"], **f32)
    sq = _seq(seq_idx, x.device)
    grid = (geo["nchunks"], geo["batch"] * geo["heads"], geo["npb"])
    sizes = (geo["length"], geo["heads"], geo["headdim"], geo["nstate"], geo["heads"] // geo["groups"], geo["nchunks"])
    meta = dict(HAS_SEQ=seq_idx is not None, REVERSE=reverse, LOWP=lowp, CHUNK=geo["chunk"],
                BLOCK_P=geo["block_p"], BLOCK_N=geo["block_n"])  # fmt: skip
    _chunk_state_fwd_kernel[grid](
        x, dt, A, B, sq, states, g, *sizes, *x.stride(), *dt.stride(), *B.stride(), *sq.stride(), **meta
    )
    final = _pass_states(states, g, None, geo, reverse=False)  # states now hold the state entering each chunk
    _chunk_scan_fwd_kernel[grid](
        x, dt, A, B, C, sq, states, y, *sizes,
        *x.stride(), *dt.stride(), *B.stride(), *C.stride(), *sq.stride(), **meta,
    )  # fmt: skip
    return y, final, states, g


def _bwd(x, dt, A, B, C, seq_idx, states, g, dy, dfinal, reverse, chunk_size, lowp):
    geo = _geometry(x, B, chunk_size)
    f32 = dict(device=x.device, dtype=torch.float32)
    batch, length, heads, nstate, npb = geo["batch"], geo["length"], geo["heads"], geo["nstate"], geo["npb"]
    sq = _seq(seq_idx, x.device)
    grid = (geo["nchunks"], batch * heads, npb)
    sizes = (length, heads, geo["headdim"], nstate, heads // geo["groups"], geo["nchunks"])
    meta = dict(HAS_SEQ=seq_idx is not None, REVERSE=reverse, LOWP=lowp, CHUNK=geo["chunk"],
                BLOCK_P=geo["block_p"], BLOCK_N=geo["block_n"])  # fmt: skip
    dstates = torch.empty_like(states)
    _chunk_dstate_kernel[grid](
        dy, dt, A, C, sq, dstates, *sizes, *dy.stride(), *dt.stride(), *C.stride(), *sq.stride(), **meta
    )
    _pass_states(dstates, g, dfinal, geo, reverse=True)  # dstates now hold the gradient on each chunk's end
    dx = torch.empty(batch, length, heads, geo["headdim"], **f32)
    ddt_part = torch.empty(npb, batch, length, heads, **f32)
    dB_part = torch.empty(npb, batch, length, heads, nstate, **f32)
    dC_part = torch.empty(npb, batch, length, heads, nstate, **f32)
    dA_part = torch.empty(npb, batch, heads, geo["nchunks"], **f32)
    _chunk_scan_bwd_kernel[grid](
        x, dt, A, B, C, sq, states, dstates, dy, dx, ddt_part, dB_part, dC_part, dA_part, batch, *sizes,
        *x.stride(), *dt.stride(), *B.stride(), *C.stride(), *sq.stride(), *dy.stride(), **meta,
    )  # fmt: skip
    # fixed-order sums: head-dim blocks, then the heads of each B/C group
    groups = geo["groups"]
    dB = dB_part.sum(0).view(batch, length, groups, heads // groups, nstate).sum(3)
    dC = dC_part.sum(0).view(batch, length, groups, heads // groups, nstate).sum(3)
    return dx, ddt_part.sum(0), dA_part.sum((0, 1, 3)), dB, dC


# ------------------------------------------------------------------------------------------------ autograd


class _TritonSSD(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dt, A, B, C, seq_idx, reverse, chunk_size, lowp, save):
        y, final, states, g = _fwd(x, dt, A, B, C, seq_idx, reverse, chunk_size, lowp)
        if save:
            ctx.save_for_backward(x, dt, A, B, C, seq_idx, states, g)
            ctx.flags = (reverse, chunk_size, lowp)
        return y, final

    @staticmethod
    def backward(ctx, dy, dfinal):
        x, dt, A, B, C, seq_idx, states, g = ctx.saved_tensors
        reverse, chunk_size, lowp = ctx.flags
        if dy is None:
            dy = torch.zeros(x.shape, device=x.device, dtype=torch.float32)
        dx, ddt, dA, dB, dC = _bwd(x, dt, A, B, C, seq_idx, states, g, dy, dfinal, reverse, chunk_size, lowp)
        return dx.to(x.dtype), ddt, dA, dB.to(B.dtype), dC.to(C.dtype), None, None, None, None, None


def ssd_triton(
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
    matmul_bf16: bool = False,
):
    """Chunked SSD in Triton; arguments and result as :func:`genomamba.ops.ssd`.

    x, B, C keep their dtype (fp32/bf16/fp16) and strides; computation is fp32 (with bf16 dot operands under
    ``matmul_bf16``); ``chunk_size`` is rounded up to a power of two >= 16 (16 in the interpreter).
    """
    if matmul_bf16 and interpreting():
        raise ValueError("matmul_bf16 needs a GPU: the Triton interpreter computes bf16 dots wrongly")
    dtp = prepare_dt(dt, dt_bias, dt_softplus, torch.float32).contiguous()
    A32 = A.float().contiguous()
    seq = seq_idx.to(torch.int64).contiguous() if seq_idx is not None else None
    save = torch.is_grad_enabled() and any(t.requires_grad for t in (x, dtp, A32, B, C))
    y, final = _TritonSSD.apply(x, dtp, A32, B, C, seq, bool(reverse), int(chunk_size), bool(matmul_bf16), save)
    out = finish(y, x, D, z, x.dtype)
    return (out, final) if return_final_state else out
