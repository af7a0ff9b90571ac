"""``selective_scan``: the one entry point to the Mamba selective scan, with an explicit backend.

Backends:
* ``ref``: the pure-PyTorch sequential oracle (``genomamba_kernels.reference``); small shapes only, it
  materialises (batch, dim, length, state).
* ``cpu``: the fused C++ kernel (``genomamba_kernels.cpu_scan``), CPU tensors, linear time, O(batch*dim*length)
  memory plus block checkpoints.
* ``triton``: the fused Triton kernel (``genomamba_kernels.triton_scan``): CUDA tensors, or CPU tensors when
  ``TRITON_INTERPRET=1`` is set (the Triton interpreter; slow, for tests).
* ``auto``: ``triton`` for CUDA tensors, ``cpu`` otherwise; the choice is logged once per (device type).

Nothing falls back silently: a backend that cannot run the given tensors raises ``GenomambaError``.
"""

from __future__ import annotations

import logging
import os

import torch

from genomamba.backends import BACKENDS
from genomamba.errors import GenomambaError

log = logging.getLogger(__name__)


_logged_auto: set[tuple[str, str]] = set()


def _triton_interpret() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def resolve_backend(backend: str, device: torch.device, op: str = "selective_scan") -> str:
    """Map ``backend`` to a concrete one for tensors on ``device``; raise GenomambaError if it cannot run.
    ``op`` names the operation in messages and in the once-per-device auto log."""
    if backend not in BACKENDS:
        raise GenomambaError(f"unknown {op} backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        chosen = "triton" if device.type == "cuda" else "cpu"
        key = (op, device.type)
        if key not in _logged_auto:
            _logged_auto.add(key)
            log.info("%s backend auto -> %s (tensors on %s)", op, chosen, device.type)
        return chosen
    if backend == "triton" and device.type != "cuda" and not _triton_interpret():
        raise GenomambaError(
            f"{op} backend 'triton' needs CUDA tensors (got {device.type}); set TRITON_INTERPRET=1 to "
            "run the Triton interpreter on CPU (slow, for tests), or use backend 'cpu' or 'auto'"
        )
    if backend == "cpu" and device.type != "cpu":
        raise GenomambaError(f"{op} backend 'cpu' needs CPU tensors (got {device.type}); use 'triton' or 'auto'")
    return backend


def _check_shapes(u, delta, A, B, C, D, z, delta_bias, seq_idx) -> None:
    if u.dim() != 3:
        raise ValueError(f"u must be (batch, dim, length), got shape {tuple(u.shape)}")
    batch, dim, length = u.shape
    if delta.shape != u.shape:
        raise ValueError(f"delta shape {tuple(delta.shape)} != u shape {tuple(u.shape)}")
    if z is not None and z.shape != u.shape:
        raise ValueError(f"z shape {tuple(z.shape)} != u shape {tuple(u.shape)}")
    if A.dim() != 2 or A.shape[0] != dim:
        raise ValueError(f"A must be (dim={dim}, state), got {tuple(A.shape)}")
    state = A.shape[1]
    for name, M in (("B", B), ("C", C)):
        if M.dim() == 3:
            ok = M.shape == (batch, state, length)
        elif M.dim() == 4:
            ok = M.shape[0] == batch and M.shape[2:] == (state, length) and dim % M.shape[1] == 0
        else:
            ok = False
        if not ok:
            raise ValueError(
                f"{name} must be (batch={batch}, state={state}, length={length}) or (batch, groups, state, length)"
                f" with dim % groups == 0, got {tuple(M.shape)}"
            )
    check_common_inputs(
        "selective_scan",
        {"D": D, "delta_bias": delta_bias},
        ("dim", dim),
        seq_idx,
        batch,
        length,
        (u, delta, A, B, C, D, z, delta_bias, seq_idx),
    )


def check_common_inputs(op, vectors: dict, size: tuple[str, int], seq_idx, batch: int, length: int, tensors) -> None:
    """Checks every scan op shares: per-channel vectors of shape (size,), an integer (batch, length) ``seq_idx``,
    and all tensors on one device."""
    size_name, n = size
    for name, v in vectors.items():
        if v is not None and v.shape != (n,):
            raise ValueError(f"{name} must be ({size_name}={n},), got {tuple(v.shape)}")
    if seq_idx is not None:
        if seq_idx.shape != (batch, length):
            raise ValueError(f"seq_idx must be (batch={batch}, length={length}), got {tuple(seq_idx.shape)}")
        if seq_idx.is_floating_point() or seq_idx.is_complex():
            raise ValueError(f"seq_idx must be an integer tensor, got {seq_idx.dtype}")
    devices = {t.device for t in tensors if t is not None}
    if len(devices) != 1:
        raise ValueError(f"all {op} inputs must be on one device, got {sorted(map(str, devices))}")


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
    *,
    reverse: bool = False,
    seq_idx: torch.Tensor | None = None,
    backend: str = "auto",
):
    """Selective scan with the semantics of mamba-ssm's ``selective_scan_fn``, plus ``reverse`` and ``seq_idx``.

    Shapes: u, delta, z (batch, dim, length), any strides (e.g. transposed views of (batch, length, dim));
    A (dim, state); B, C (batch, state, length) or (batch, groups, state, length); D, delta_bias (dim,).
    ``reverse``: scan from L-1 down to 0 (equals flip -> scan -> flip, without copies). ``seq_idx`` (batch,
    length) int: the state resets wherever it changes between neighbours in scan order.
    Returns out (batch, dim, length) in u's dtype [, last_state (batch, dim, state) fp32].
    """
    _check_shapes(u, delta, A, B, C, D, z, delta_bias, seq_idx)
    chosen = resolve_backend(backend, u.device)
    kwargs = dict(
        D=D,
        z=z,
        delta_bias=delta_bias,
        delta_softplus=delta_softplus,
        return_last_state=return_last_state,
        reverse=reverse,
        seq_idx=seq_idx,
    )
    if chosen == "ref":
        from genomamba_kernels.reference import selective_scan_loop

        return selective_scan_loop(u, delta, A, B, C, **kwargs)
    if chosen == "cpu":
        from genomamba_kernels.cpu_scan import selective_scan_cpu

        return selective_scan_cpu(u, delta, A, B, C, **kwargs)
    from genomamba_kernels.triton_scan import selective_scan_triton

    return selective_scan_triton(u, delta, A, B, C, **kwargs)
