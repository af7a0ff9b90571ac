"""The Triton SSD path against the float64 oracle.

CPU tier: needs ``TRITON_INTERPRET=1`` in the environment (Triton's interpreter; slow, so small fp32 shapes).
GPU tier (``gpu`` marker): bf16 inputs and matmuls, long lengths, on a CUDA device.
"""

from __future__ import annotations

import os

import pytest
import torch
from scan_cases import assert_close
from ssd_cases import Case, compare_to_reference, make_inputs, reference, run

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
    Case(length=40, heads=4, groups=2, packed=True),
    Case(length=33, has_D=False, has_z=False, has_bias=False, softplus=False),
    Case(length=33, has_z=False, softplus=False, reverse=True, packed=True),
    Case(batch=1, length=20, heads=6, groups=3, headdim=65, state=20, reverse=True),  # two head-dim blocks, N > 16
    Case(batch=1, length=372, heads=2, headdim=3, state=4, packed=True, reverse=True),
    Case(batch=1, length=1134, heads=1, headdim=2, state=3, packed=True),
]


def _triton_fn():
    from genomamba_kernels.ssd_triton import ssd_triton

    if not CUDA:
        return ssd_triton

    def on_gpu(*args, **kwargs):  # inputs built on CPU by the shared helpers
        moved = [a.cuda() if isinstance(a, torch.Tensor) else a for a in args]
        if kwargs.get("seq_idx") is not None:
            kwargs["seq_idx"] = kwargs["seq_idx"].cuda()
        out, last = ssd_triton(*moved, **kwargs)
        return out.cpu(), last.cpu()

    return on_gpu


@needs_triton
@pytest.mark.parametrize("case", GRID, ids=str)
def test_triton_matches_reference(case):
    if CUDA:
        pytest.skip("CPU-built leaves: covered by the gpu tier below")
    compare_to_reference(_triton_fn(), case)


@needs_triton
def test_autotune_collapses_in_interpreter():
    if not INTERPRET:
        pytest.skip("autotune keeps its full list on a GPU")
    from genomamba_kernels import ssd_triton as mod

    for kernel in (mod._chunk_state_fwd_kernel, mod._chunk_scan_fwd_kernel, mod._chunk_scan_bwd_kernel):
        assert len(kernel.configs) == 1


@needs_triton
def test_bf16_matmuls_refused_in_interpreter():
    if not INTERPRET:
        pytest.skip("bf16 dots run on a GPU")
    from genomamba_kernels.ssd_triton import ssd_triton

    tensors, _ = make_inputs(Case(length=5))
    with pytest.raises(ValueError, match="interpreter"):
        ssd_triton(*tensors.values(), matmul_bf16=True)


@needs_triton
def test_triton_deterministic():
    from genomamba_kernels.ssd_triton import ssd_triton

    case = Case(batch=1, length=40, packed=True, groups=3)
    tensors, seq_idx = make_inputs(case)
    dev = "cuda" if CUDA else "cpu"
    results = []
    for _ in range(2):
        leaves = {k: (v.to(dev).requires_grad_(True) if v is not None else None) for k, v in tensors.items()}
        out = ssd_triton(*leaves.values(), dt_softplus=True, seq_idx=seq_idx.to(dev))
        out.square().sum().backward()
        results.append([out.detach()] + [v.grad for v in leaves.values() if v is not None])
    for a, b in zip(*results):
        assert torch.equal(a, b)


# ------------------------------------------------------------------------------------------------ GPU tier


@pytest.mark.gpu
@pytest.mark.parametrize(
    "case", GRID + [Case(length=4096, heads=4, headdim=64, state=64, chunk=64, packed=True, reverse=True)], ids=str
)
def test_gpu_fp32_matches_reference(case):
    compare_to_reference(_triton_fn(), case)


@pytest.mark.gpu
def test_gpu_bf16_inputs_and_matmuls():

    case = Case(batch=2, length=2048, heads=4, headdim=64, state=64, chunk=64, packed=True)
    tensors, seq_idx = make_inputs(case)
    low = {k: (v.to(torch.bfloat16) if v is not None and k in ("x", "B", "C", "z") else v) for k, v in tensors.items()}
    out, _, grads = run(_triton_fn(), case, low, seq_idx, matmul_bf16=True)
    r_out, _, r_grads = reference(case, low, seq_idx)
    assert out.dtype == torch.bfloat16
    assert_close("out", out, r_out, 3e-2)
    for name in ("x", "dt", "B", "C"):
        assert_close(f"d{name}", grads[name], r_grads[name], 6e-2)


@pytest.mark.gpu
def test_gpu_long_length_matches_cpu_path():
    """L = 2^18: the Triton path against the chunked CPU path (the oracle would take minutes)."""
    from genomamba_kernels.ssd_cpu import ssd_cpu
    from genomamba_kernels.ssd_triton import ssd_triton

    case = Case(batch=1, length=1 << 18, heads=4, headdim=64, state=64, has_z=False)
    tensors, _ = make_inputs(case)
    want = ssd_cpu(*tensors.values(), dt_softplus=True)
    got = ssd_triton(*[v.cuda() if v is not None else None for v in tensors.values()], dt_softplus=True)
    assert_close("out", got.cpu(), want, 1e-4)
