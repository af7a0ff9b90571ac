"""The Triton path against the float64 oracle.

CPU tier: needs ``TRITON_INTERPRET=1`` in the environment (Triton's interpreter; slow, so small fp32 shapes).
GPU tier (``gpu`` marker): bf16/fp16 inputs and long lengths on a CUDA device.
"""

from __future__ import annotations

import os

import pytest
import torch
from scan_cases import Case, assert_close, compare_to_reference, make_inputs

INTERPRET = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
CUDA = torch.cuda.is_available()

needs_triton = pytest.mark.skipif(
    not (INTERPRET or CUDA),
    reason="Triton kernels need a CUDA GPU or TRITON_INTERPRET=1 (run: TRITON_INTERPRET=1 pytest tests/kernels)",
)

GRID = [
    Case(length=1),
    Case(length=17),
    Case(length=17, reverse=True, packed=True),
    Case(length=40, packed=True),
    Case(length=17, has_D=False, has_z=False, has_bias=False, softplus=False),
    Case(length=17, has_z=False, softplus=False, reverse=True),
    Case(batch=1, dim=24, length=33, groups=2, packed=True),  # 12 channels per group: blocks of 4 channels
    Case(batch=1, dim=16, length=20, state=16, groups=2, reverse=True),
    Case(batch=1, dim=3, length=372, state=4, packed=True, reverse=True),
]


def _triton_fn():
    from genomamba_kernels.triton_scan import selective_scan_triton

    if not CUDA:
        return selective_scan_triton

    def on_gpu(*args, **kwargs):  # inputs built on CPU by the shared helpers
        moved = [a.cuda() if isinstance(a, torch.Tensor) else a for a in args]
        if kwargs.get("seq_idx") is not None:
            kwargs["seq_idx"] = kwargs["seq_idx"].cuda()
        out, last = selective_scan_triton(*moved, **kwargs)
        return out.cpu(), last.cpu()

    return on_gpu


@needs_triton
@pytest.mark.parametrize("case", GRID, ids=str)
def test_triton_matches_reference(case):
    if CUDA:
        pytest.skip("CPU-built leaves: covered by the gpu tier below")
    compare_to_reference(_triton_fn(), case)


@needs_triton
def test_tree_scan_path(monkeypatch):
    """The tl.associative_scan chunk scan (the GPU path; slow in the interpreter, so a tiny shape)."""
    if CUDA:
        pytest.skip("the gpu tier runs the tree scan at every size")
    monkeypatch.setenv("GENOMAMBA_TRITON_SCAN", "assoc")
    compare_to_reference(_triton_fn(), Case(batch=1, dim=3, length=21, state=2, packed=True, reverse=True))


@needs_triton
def test_autotune_collapses_in_interpreter():
    if not INTERPRET:
        pytest.skip("autotune keeps its full list on a GPU")
    from genomamba_kernels.triton_scan import _scan_bwd_kernel, _scan_fwd_kernel

    assert len(_scan_fwd_kernel.configs) == 1 and len(_scan_bwd_kernel.configs) == 1


@needs_triton
def test_triton_deterministic():
    from genomamba_kernels.triton_scan import selective_scan_triton

    case = Case(batch=1, dim=10, length=20, packed=True)
    tensors, seq_idx = make_inputs(case)
    dev = "cuda" if CUDA else "cpu"
    results = []
    for _ in range(2):
        leaves = {k: (v.to(dev).requires_grad_(True) if v is not None else None) for k, v in tensors.items()}
        out = selective_scan_triton(*leaves.values(), delta_softplus=True, seq_idx=seq_idx.to(dev))
        out.square().sum().backward()
        results.append([out.detach()] + [v.grad for v in leaves.values() if v is not None])
    for a, b in zip(*results):
        assert torch.equal(a, b)


# ------------------------------------------------------------------------------------------------ GPU tier


@pytest.mark.gpu
@pytest.mark.parametrize("case", GRID + [Case(dim=64, length=4096, state=16, packed=True, reverse=True)], ids=str)
def test_gpu_fp32_matches_reference(case):
    compare_to_reference(_triton_fn(), case)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_gpu_low_precision(dtype):
    from genomamba_kernels.triton_scan import selective_scan_triton

    case = Case(batch=2, dim=48, length=2048, state=16, packed=True)
    tensors, seq_idx = make_inputs(case)
    low = {k: (v.to(dtype) if v is not None and k in ("u", "delta", "z", "B", "C") else v) for k, v in tensors.items()}
    out = selective_scan_triton(
        *[v.cuda() if v is not None else None for v in low.values()], delta_softplus=True, seq_idx=seq_idx.cuda()
    )
    assert out.dtype == dtype
    from genomamba_kernels.reference import selective_scan_loop

    want = selective_scan_loop(
        *[v.double() if v is not None else None for v in low.values()], delta_softplus=True, seq_idx=seq_idx
    )
    assert_close("out", out.double().cpu(), want, 3e-2)


@pytest.mark.gpu
def test_gpu_long_length_matches_cpu_kernel():
    """L = 2^18 at dim 64: the Triton path against the fused CPU path (the oracle would take minutes)."""
    from genomamba_kernels.cpu_scan import selective_scan_cpu
    from genomamba_kernels.triton_scan import selective_scan_triton

    case = Case(batch=1, dim=64, length=1 << 18, state=16, has_z=False)
    tensors, _ = make_inputs(case)
    want = selective_scan_cpu(*tensors.values(), delta_softplus=True)
    got = selective_scan_triton(*[v.cuda() if v is not None else None for v in tensors.values()], delta_softplus=True)
    assert_close("out", got.cpu(), want, 1e-4)
