"""CPU path of RMSNorm (fp32, last dimension): the C++ kernel ``csrc/cpu_norm.cpp`` behind a
``torch.autograd.Function``. Forward saves x and one rstd per row; backward is one pass over x and dy.
fp32 CPU tensors with a contiguous last dimension; ``genomamba.model.norm`` routes anything else to PyTorch.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import torch
from genomamba_kernels._build import build_library

__all__ = ["rms_norm_cpu", "load_library"]

_SOURCE = Path(__file__).with_name("csrc") / "cpu_norm.cpp"


class NormArgs(ctypes.Structure):
    """Mirror of ``struct NormArgs`` in csrc/cpu_norm.cpp."""

    _fields_ = [("rows", ctypes.c_int64), ("dim", ctypes.c_int64), ("nthreads", ctypes.c_int64)]
    _fields_ += [("eps", ctypes.c_double)]
    _fields_ += [(f, ctypes.c_void_p) for f in ("x", "w", "y", "rstd", "dy", "dx", "dw_part")]


@functools.lru_cache(maxsize=1)
def load_library() -> ctypes.CDLL:
    """Compile (once per machine and source version, cached on disk) and load the kernel library."""
    lib = build_library(_SOURCE, "genomamba_cpu_norm")
    for fn in (lib.genomamba_norm_fwd, lib.genomamba_norm_bwd):
        fn.argtypes = [ctypes.POINTER(NormArgs)]
        fn.restype = ctypes.c_int
    lib.genomamba_norm_rows_per_task.restype = ctypes.c_int64
    return lib


def _args(x2, w, eps) -> NormArgs:
    from genomamba_kernels.cpu_scan import kernel_threads

    args = NormArgs()
    args.rows, args.dim = x2.shape
    args.nthreads, args.eps = kernel_threads(), float(eps)
    args.x, args.w = x2.data_ptr(), w.data_ptr()
    return args


class _RMSNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, eps: float):
        x2 = x.reshape(-1, x.shape[-1])  # a view: rows are contiguous
        w = weight.contiguous()
        y = torch.empty_like(x2)
        rstd = torch.empty(x2.shape[0], dtype=torch.float32)
        args = _args(x2, w, eps)
        args.y, args.rstd = y.data_ptr(), rstd.data_ptr()
        load_library().genomamba_norm_fwd(ctypes.byref(args))
        ctx.save_for_backward(x2, w, rstd)
        ctx.eps = eps
        return y.view(x.shape)

    @staticmethod
    def backward(ctx, dy):
        x2, w, rstd = ctx.saved_tensors
        lib = load_library()
        dy2 = dy.reshape(-1, x2.shape[1]).contiguous()
        dx = torch.empty_like(x2)
        ntasks = -(-x2.shape[0] // lib.genomamba_norm_rows_per_task())
        dw_part = torch.empty(ntasks, x2.shape[1])
        args = _args(x2, w, ctx.eps)
        args.rstd, args.dy, args.dx, args.dw_part = rstd.data_ptr(), dy2.data_ptr(), dx.data_ptr(), dw_part.data_ptr()
        lib.genomamba_norm_bwd(ctypes.byref(args))
        return dx.view(dy.shape), dw_part.sum(0), None


def rms_norm_cpu(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """x (..., dim) fp32 CPU with a contiguous last dimension (rows may not be: then a copy); weight (dim,)."""
    if not x.is_contiguous():
        x = x.contiguous()
    return _RMSNorm.apply(x, weight, eps)
