"""CPU path of the mixer's depthwise causal conv1d + SiLU: the C++ kernel ``csrc/cpu_conv.cpp`` behind a
``torch.autograd.Function``.

``conv_silu_split(xz, weight, bias, nx)`` convolves the first ``nx`` channels of ``xz`` (B, L, C) (in_proj's
output: x then z) and returns ``(silu(conv(x)), z)`` with z a view of xz. Returning both from one Function lets
its backward write dx and dz into one (B, L, C) gradient, instead of autograd concatenating the two halves.
Forward saves nothing but its inputs; backward recomputes the pre-activation (K multiply-adds per element).
fp32 CPU tensors with channel stride 1; the caller (``genomamba.model.conv``) routes anything else to PyTorch.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import torch
from genomamba_kernels._build import build_library

__all__ = ["conv_silu_split", "load_library", "CHUNK"]

CHUNK = 512  # positions per task: enough tasks for any thread count from 4k bases on, tiny dw/dbias partials

_SOURCE = Path(__file__).with_name("csrc") / "cpu_conv.cpp"

_FIELDS = (
    ["batch", "length", "dim", "width", "nthreads", "reverse", "chunk"]
    + ["x", "x_sb", "x_sl", "w", "bias", "seq", "seq_sb", "seq_sl", "out", "o_sb", "o_sl"]
    + ["dout", "do_sb", "do_sl", "dx", "dx_sb", "dx_sl", "dw_part", "dbias_part"]
)
_POINTERS = {"x", "w", "bias", "seq", "out", "dout", "dx", "dw_part", "dbias_part"}


class ConvArgs(ctypes.Structure):
    """Mirror of ``struct ConvArgs`` in csrc/cpu_conv.cpp (same order; every field is 8 bytes)."""

    _fields_ = [(f, ctypes.c_void_p if f in _POINTERS else ctypes.c_int64) for f in _FIELDS]


@functools.lru_cache(maxsize=1)
def load_library() -> ctypes.CDLL:
    """Compile (once per machine and source version, cached on disk) and load the kernel library."""
    lib = build_library(_SOURCE, "genomamba_cpu_conv")
    for fn in (lib.genomamba_conv_fwd, lib.genomamba_conv_bwd):
        fn.argtypes = [ctypes.POINTER(ConvArgs)]
        fn.restype = ctypes.c_int
    return lib


def _rows(args: ConvArgs, name: str, t: torch.Tensor) -> None:
    """Pointer and (batch, time) element strides of a (B, L, D) tensor with channel stride 1."""
    setattr(args, name, t.data_ptr())
    prefix = {"x": "x", "out": "o", "dout": "do", "dx": "dx"}[name]
    setattr(args, f"{prefix}_sb", t.stride(0))
    setattr(args, f"{prefix}_sl", t.stride(1))


def _args(x, weight, bias, seq_idx, reverse: bool, threads: int) -> ConvArgs:
    args = ConvArgs()
    args.batch, args.length, args.dim = x.shape
    args.width, args.nthreads, args.reverse, args.chunk = weight.shape[1], threads, int(reverse), CHUNK
    _rows(args, "x", x)
    args.w = weight.data_ptr()
    args.bias = bias.data_ptr() if bias is not None else None
    if seq_idx is not None:
        args.seq, args.seq_sb, args.seq_sl = seq_idx.data_ptr(), seq_idx.stride(0), seq_idx.stride(1)
    return args


def _threads() -> int:
    from genomamba_kernels.cpu_scan import kernel_threads

    return kernel_threads()


class _ConvSiluSplit(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xz, weight, bias, seq_idx, reverse: bool, nx: int):
        x = xz[..., :nx]
        w = weight.contiguous()
        b = bias.contiguous() if bias is not None else None
        out = torch.empty(x.shape, dtype=torch.float32)
        args = _args(x, w, b, seq_idx, reverse, _threads())
        _rows(args, "out", out)
        if load_library().genomamba_conv_fwd(ctypes.byref(args)) != 0:
            raise RuntimeError(f"CPU causal conv: width {w.shape[1]} outside the kernel's range")
        ctx.save_for_backward(xz, w, b, seq_idx)
        ctx.flags = (reverse, nx)
        z = xz[..., nx:] if nx < xz.shape[-1] else None
        return out, z

    @staticmethod
    def backward(ctx, dout, dz):
        xz, w, b, seq_idx = ctx.saved_tensors
        reverse, nx = ctx.flags
        x = xz[..., :nx]
        dxz = torch.empty(xz.shape, dtype=torch.float32)
        dx = dxz[..., :nx]
        if dout is None:
            dx.zero_()
            dw = torch.zeros_like(w)
            db = torch.zeros_like(b) if b is not None else None
        else:
            dout = dout if dout.stride(-1) == 1 else dout.contiguous()
            nchunks = -(-x.shape[1] // CHUNK)
            ntasks = x.shape[0] * nchunks
            dw_part = torch.empty(ntasks, w.shape[1], w.shape[0])
            db_part = torch.empty(ntasks, w.shape[0]) if b is not None else None
            args = _args(x, w, b, seq_idx, reverse, _threads())
            _rows(args, "dout", dout)
            _rows(args, "dx", dx)
            args.dw_part = dw_part.data_ptr()
            args.dbias_part = db_part.data_ptr() if db_part is not None else None
            if load_library().genomamba_conv_bwd(ctypes.byref(args)) != 0:
                raise RuntimeError("CPU causal conv backward: invalid arguments")
            dw = dw_part.sum(0).t()  # (dim, width)
            db = db_part.sum(0) if db_part is not None else None
        if nx < xz.shape[-1]:
            if dz is None:
                dxz[..., nx:].zero_()
            else:
                dxz[..., nx:].copy_(dz)
        return dxz, dw, db, None, None, None


def conv_silu_split(
    xz: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    nx: int,
    seq_idx: torch.Tensor | None = None,
    reverse: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """xz: (B, L, C) fp32 CPU, channel stride 1; weight (nx, K), bias (nx,) or None; seq_idx (B, L) or None.
    Returns (silu(causal_conv1d(xz[..., :nx])) as a new contiguous (B, L, nx) tensor, xz[..., nx:] or None)."""
    seq = seq_idx.to(torch.int64) if seq_idx is not None else None
    return _ConvSiluSplit.apply(xz, weight, bias, seq, bool(reverse), int(nx))
