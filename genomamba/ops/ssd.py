"""``ssd``: the one entry point to Mamba-2's SSD scan (state space duality), with an explicit backend.

Backends (the contract of ``selective_scan``):
* ``ref``: the pure-PyTorch sequential oracle (``genomamba_kernels.ssd_reference.ssd_loop``); small shapes only,
  it keeps one (batch, heads, headdim, state) state per position for autograd.
* ``cpu``: the chunked matrix form streamed in blocks (``genomamba_kernels.ssd_cpu``), CPU tensors; memory
  O(batch * length * heads * headdim) plus one state per block.
* ``triton``: the chunked Triton kernels (``genomamba_kernels.ssd_triton``): CUDA tensors, or CPU tensors when
  ``TRITON_INTERPRET=1`` is set (the Triton interpreter; slow, for tests).
* ``auto``: ``triton`` for CUDA tensors, ``cpu`` otherwise; the choice is logged once per device type.

Nothing falls back silently: a backend that cannot run the given tensors or options raises ``GenomambaError``.
"""

from __future__ import annotations

import torch

from genomamba.errors import GenomambaError
from genomamba.ops.scan import check_common_inputs, resolve_backend


def _check_shapes(x, dt, A, B, C, D, z, dt_bias, seq_idx, chunk_size) -> None:
    if x.dim() != 4:
        raise ValueError(f"x must be (batch, length, heads, headdim), got shape {tuple(x.shape)}")
    batch, length, heads, _ = x.shape
    if dt.shape != (batch, length, heads):
        raise ValueError(f"dt must be (batch={batch}, length={length}, heads={heads}), got {tuple(dt.shape)}")
    if A.shape != (heads,):
        raise ValueError(f"A must be (heads={heads},), got {tuple(A.shape)}")
    for name, M in (("B", B), ("C", C)):
        if M.dim() != 4 or M.shape[:2] != (batch, length) or heads % M.shape[2] != 0:
            raise ValueError(
                f"{name} must be (batch={batch}, length={length}, groups, state) with heads % groups == 0, "
                f"got {tuple(M.shape)}"
            )
    if B.shape != C.shape:
        raise ValueError(f"B and C must have the same shape, got {tuple(B.shape)} and {tuple(C.shape)}")
    if z is not None and z.shape != x.shape:
        raise ValueError(f"z shape {tuple(z.shape)} != x shape {tuple(x.shape)}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    check_common_inputs(
        "ssd",
        {"D": D, "dt_bias": dt_bias},
        ("heads", heads),
        seq_idx,
        batch,
        length,
        (x, dt, A, B, C, D, z, dt_bias, seq_idx),
    )


def ssd(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    dt_bias: torch.Tensor | None = None,
    dt_softplus: bool = False,
    return_final_state: bool = False,
    *,
    chunk_size: int = 64,
    reverse: bool = False,
    seq_idx: torch.Tensor | None = None,
    matmul_bf16: bool = False,
    backend: str = "auto",
):
    """Mamba-2 SSD scan (scalar decay per head), with ``reverse`` and ``seq_idx`` as ``selective_scan``.

    Shapes: x, z (batch, length, heads, headdim), any strides (e.g. views of in_proj's output); dt (batch, length,
    heads); A, D, dt_bias (heads,); B, C (batch, length, groups, state) with heads % groups == 0 (head h reads
    group h // (heads / groups)). ``chunk_size``: positions per chunk of the matrix form (cpu, triton; results
    do not depend on it beyond rounding). ``matmul_bf16``: bf16 operands for the per-chunk products, fp32
    accumulation and state (cpu, triton on a GPU). ``reverse``: scan from L-1 down to 0 (equals flip -> scan ->
    flip). ``seq_idx`` (batch, length) int: the state resets wherever it changes between neighbours in scan order.
    Returns out (batch, length, heads, headdim) in x's dtype [, final_state (batch, heads, headdim, state) fp32].
    """
    _check_shapes(x, dt, A, B, C, D, z, dt_bias, seq_idx, chunk_size)
    chosen = resolve_backend(backend, x.device, op="ssd")
    kwargs = dict(
        D=D,
        z=z,
        dt_bias=dt_bias,
        dt_softplus=dt_softplus,
        return_final_state=return_final_state,
        reverse=reverse,
        seq_idx=seq_idx,
        chunk_size=chunk_size,
    )
    if chosen == "ref":
        if matmul_bf16:
            raise GenomambaError("ssd backend 'ref' is the fp32 oracle and has no bf16 matmuls; use 'cpu' or 'triton'")
        from genomamba_kernels.ssd_reference import ssd_loop

        return ssd_loop(x, dt, A, B, C, **kwargs)
    if chosen == "cpu":
        from genomamba_kernels.ssd_cpu import ssd_cpu

        return ssd_cpu(x, dt, A, B, C, matmul_bf16=matmul_bf16, **kwargs)
    from genomamba_kernels.ssd_triton import ssd_triton

    return ssd_triton(x, dt, A, B, C, matmul_bf16=matmul_bf16, **kwargs)
