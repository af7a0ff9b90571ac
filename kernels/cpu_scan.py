"""CPU path: the fused C++ selective scan (``csrc/cpu_scan.cpp``) behind a ``torch.autograd.Function``.

Forward streams the sequence in blocks of ``block`` steps, 8 or 16 channels per vector (AVX2 or AVX-512),
and (when a gradient is needed) saves the state at every block start: batch*dim*state*length/block floats.
Backward recomputes each block from its checkpoint and runs the adjoint recurrence; dB/dC channel sums go to
per-slab partial buffers (nslab * batch * groups * length * state floats) summed in a fixed order. Memory is
O(batch*dim*length) plus those two terms: nothing of size (length, dim, state) exists. Inputs keep their
strides (no copies of (batch, dim, length) tensors); non-fp32 inputs are computed in fp32 and the output
cast back.
"""

from __future__ import annotations

import ctypes
import functools
import math
from pathlib import Path

import torch
from genomamba_kernels._build import build_library

__all__ = ["selective_scan_cpu", "load_library", "DEFAULT_BLOCK", "kernel_threads", "set_kernel_threads"]

DEFAULT_BLOCK = 128  # steps per block: the backward keeps 4 * block * state * 32 B per thread (256 KiB, L2-sized)

_SOURCE = Path(__file__).with_name("csrc") / "cpu_scan.cpp"

_FIELDS = (
    ["batch", "dim", "length", "nstate", "ngroups", "block", "nthreads", "softplus", "reverse", "nslab"]
    + ["u", "u_sb", "u_sd", "u_sl", "delta", "dt_sb", "dt_sd", "dt_sl", "z", "z_sb", "z_sd", "z_sl"]
    + ["out", "o_sb", "o_sd", "o_sl", "A", "Bm", "B_sb", "B_sg", "B_sn", "B_sl"]
    + ["Cm", "C_sb", "C_sg", "C_sn", "C_sl", "Dskip", "bias", "seq", "seq_sb", "seq_sl", "last_state", "ckpt"]
    + ["dout", "do_sb", "do_sd", "do_sl", "dlast", "du", "du_sb", "du_sd", "du_sl"]
    + ["ddelta", "dd_sb", "dd_sd", "dd_sl", "dz", "dz_sb", "dz_sd", "dz_sl"]
    + ["dA_part", "dD_part", "dbias_part", "dB_part", "dC_part"]
)
_POINTERS = {
    "u",
    "delta",
    "z",
    "out",
    "A",
    "Bm",
    "Cm",
    "Dskip",
    "bias",
    "seq",
    "last_state",
    "ckpt",
    "dout",
    "dlast",
    "du",
    "ddelta",
    "dz",
    "dA_part",
    "dD_part",
    "dbias_part",
    "dB_part",
    "dC_part",
}


class ScanArgs(ctypes.Structure):
    """Mirror of ``struct ScanArgs`` in csrc/cpu_scan.cpp (same order; every field is 8 bytes)."""

    _fields_ = [(f, ctypes.c_void_p if f in _POINTERS else ctypes.c_int64) for f in _FIELDS]


_KERNEL_THREADS: int | None = None


def set_kernel_threads(n: int | None) -> None:
    """Threads of the C++ kernels (scan, conv); None follows ``torch.get_num_threads()``. The kernels hand out
    work dynamically, so they may use more threads than torch's statically split intra-op pool
    (see ``genomamba.threads``)."""
    global _KERNEL_THREADS
    if n is not None and n < 1:
        raise ValueError(f"kernel threads must be >= 1, got {n}")
    _KERNEL_THREADS = n


def kernel_threads() -> int:
    return _KERNEL_THREADS or torch.get_num_threads()


@functools.lru_cache(maxsize=1)
def load_library() -> ctypes.CDLL:
    """Compile (once per machine and source version, cached on disk) and load the kernel library."""
    lib = build_library(_SOURCE, "genomamba_cpu_scan")
    for fn in (lib.genomamba_scan_fwd, lib.genomamba_scan_bwd):
        fn.argtypes = [ctypes.POINTER(ScanArgs)]
        fn.restype = ctypes.c_int
    return lib


@functools.lru_cache(maxsize=1)
def lanes_per_tile() -> int:
    """Channels per vector tile of the compiled kernel: 16 with AVX-512, else 8."""
    return int(load_library().genomamba_scan_lanes())


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _time_major(M: torch.Tensor) -> torch.Tensor:
    """(batch, groups, state, length) with state stride 1 (time-major rows, e.g. views of the mixer's x_proj
    output): as is. Otherwise the same-shape view of a (batch, groups, length, state) contiguous copy."""
    if M.stride(2) == 1:
        return M
    return M.transpose(2, 3).contiguous().transpose(2, 3)


def _set(args: ScanArgs, name: str, t: torch.Tensor | None, stride_names: tuple[str, ...]) -> None:
    """Pointer plus element strides of ``t`` (absent tensor: null pointer, zero strides)."""
    setattr(args, name, _ptr(t))
    for s_name, s in zip(stride_names, t.stride() if t is not None else (0,) * len(stride_names)):
        setattr(args, s_name, s)


def _fill(args: ScanArgs, u, delta, A, B, C, D, z, delta_bias, seq_idx, softplus, reverse, block, nslab):
    batch, dim, length = u.shape
    args.batch, args.dim, args.length = batch, dim, length
    args.nstate, args.ngroups = A.shape[1], B.shape[1]
    args.block, args.nthreads = block, kernel_threads()
    args.softplus, args.reverse, args.nslab = int(softplus), int(reverse), nslab
    _set(args, "u", u, ("u_sb", "u_sd", "u_sl"))
    _set(args, "delta", delta, ("dt_sb", "dt_sd", "dt_sl"))
    _set(args, "z", z, ("z_sb", "z_sd", "z_sl"))
    args.A = A.data_ptr()
    _set(args, "Bm", B, ("B_sb", "B_sg", "B_sn", "B_sl"))
    _set(args, "Cm", C, ("C_sb", "C_sg", "C_sn", "C_sl"))
    args.Dskip, args.bias = _ptr(D), _ptr(delta_bias)
    _set(args, "seq", seq_idx, ("seq_sb", "seq_sl"))


def _geometry(dim: int, groups: int, length: int, block: int) -> tuple[int, int, int]:
    """(tiles per group, tiles in all, blocks) exactly as the C++ Geometry computes them."""
    lanes = lanes_per_tile()
    tpg = math.ceil(dim // groups / lanes)
    return tpg, tpg * groups, math.ceil(length / block)


class _CpuSelectiveScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, seq_idx, softplus, reverse, block, save):
        # all float tensors are fp32 CPU here; B, C are 4-D (batch, groups, state, length)
        lib = load_library()
        batch, dim, length = u.shape
        state, groups = A.shape[1], B.shape[1]
        out = torch.empty_like(u)  # keeps u's strides when u is a dense view (e.g. of (batch, length, dim))
        last_state = torch.empty(batch, dim, state, dtype=torch.float32)
        tpg, ntiles, nblocks = _geometry(dim, groups, length, block)
        ckpt_shape = (batch, ntiles, max(nblocks, 1), state, lanes_per_tile())
        ckpt = torch.empty(ckpt_shape, dtype=torch.float32) if save else None
        # (batch, groups, length, state) copies of B, C: a block then reads one contiguous run (B*G*L*N floats,
        # 1/dim of the (batch, dim, length) tensors); strided rows would each be a separate prefetch stream
        Bt, Ct = _time_major(B), _time_major(C)
        args = ScanArgs()
        _fill(args, u, delta, A, Bt, Ct, D, z, delta_bias, seq_idx, softplus, reverse, block, 1)
        _set(args, "out", out, ("o_sb", "o_sd", "o_sl"))
        args.last_state, args.ckpt = last_state.data_ptr(), _ptr(ckpt)
        if lib.genomamba_scan_fwd(ctypes.byref(args)) != 0:
            raise RuntimeError(f"CPU selective scan: state size {state} above the kernel's maximum")
        if save:
            ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, seq_idx, ckpt)
            ctx.flags = (softplus, reverse, block)
        return out, last_state

    @staticmethod
    def backward(ctx, dout, dlast):
        u, delta, A, B, C, D, z, delta_bias, seq_idx, ckpt = ctx.saved_tensors
        softplus, reverse, block = ctx.flags
        lib = load_library()
        batch, dim, length = u.shape
        state, groups = A.shape[1], B.shape[1]
        tpg, _, _ = _geometry(dim, groups, length, block)
        # slabs of tiles per (batch, group) so that every thread has a task; partial dB/dC per slab
        nslab = max(1, min(tpg, math.ceil(kernel_threads() / (batch * groups))))
        if dout is None:
            dout = torch.zeros_like(u)
        dout = dout.float()
        du, ddelta = torch.empty_like(u), torch.empty_like(delta)
        dz = torch.empty_like(z) if z is not None else None
        dA_part = torch.zeros(batch, dim, state)
        dD_part = torch.zeros(batch, dim) if D is not None else None
        dbias_part = torch.zeros(batch, dim) if delta_bias is not None else None
        dB_part = torch.zeros(nslab, batch, groups, length, state)
        dC_part = torch.zeros(nslab, batch, groups, length, state)
        Bt, Ct = _time_major(B), _time_major(C)  # kept alive until the kernel returns
        args = ScanArgs()
        _fill(args, u, delta, A, Bt, Ct, D, z, delta_bias, seq_idx, softplus, reverse, block, nslab)
        args.ckpt = ckpt.data_ptr()
        _set(args, "dout", dout, ("do_sb", "do_sd", "do_sl"))
        keep_dlast = dlast.float().contiguous() if dlast is not None else None
        args.dlast = _ptr(keep_dlast)
        _set(args, "du", du, ("du_sb", "du_sd", "du_sl"))
        _set(args, "ddelta", ddelta, ("dd_sb", "dd_sd", "dd_sl"))
        _set(args, "dz", dz, ("dz_sb", "dz_sd", "dz_sl"))
        args.dA_part, args.dD_part, args.dbias_part = dA_part.data_ptr(), _ptr(dD_part), _ptr(dbias_part)
        args.dB_part, args.dC_part = dB_part.data_ptr(), dC_part.data_ptr()
        if lib.genomamba_scan_bwd(ctypes.byref(args)) != 0:
            raise RuntimeError("CPU selective scan backward: invalid arguments")
        dB = dB_part.sum(0).transpose(2, 3)  # (batch, groups, state, length)
        dC = dC_part.sum(0).transpose(2, 3)
        dA = dA_part.sum(0)
        dD = dD_part.sum(0) if dD_part is not None else None
        dbias = dbias_part.sum(0) if dbias_part is not None else None
        return du, ddelta, dA, dB, dC, dD, dz, dbias, None, None, None, None, None


def _f32(t: torch.Tensor | None) -> torch.Tensor | None:
    return t if t is None or t.dtype == torch.float32 else t.float()


def selective_scan_cpu(
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
    block: int = DEFAULT_BLOCK,
):
    """Fused CPU selective scan; arguments and result as :func:`genomamba.ops.selective_scan`."""
    dtype_in = u.dtype
    grouped = B.dim() == 4
    B4 = B if grouped else B.unsqueeze(1)
    C4 = C if C.dim() == 4 else C.unsqueeze(1)
    if B4.shape[1] != C4.shape[1]:
        raise ValueError(f"B and C must have the same number of groups, got {B4.shape[1]} and {C4.shape[1]}")
    tensors = [_f32(t) for t in (u, delta, A, B4, C4, D, z, delta_bias)]
    A32 = tensors[2].contiguous()
    tensors[2] = A32
    for i in (5, 7):  # D, delta_bias: (dim,) contiguous
        if tensors[i] is not None:
            tensors[i] = tensors[i].contiguous()
    seq = seq_idx.to(torch.int64) if seq_idx is not None else None
    save = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    out, last_state = _CpuSelectiveScan.apply(*tensors, seq, bool(delta_softplus), bool(reverse), block, save)
    out = out.to(dtype_in)
    return (out, last_state) if return_last_state else out
