"""The fused C++ RMSNorm (backends cpu/auto on fp32 CPU tensors) against the PyTorch ops in float64: outputs and
gradients of x and the gain, for odd widths, strided inputs and a gain override (as RC-PS passes it)."""

from __future__ import annotations

import pytest
import torch
from genomamba_kernels import cpu_scan

from genomamba.model.norm import RMSNorm


def _run(norm, x, w_override, g):
    x = x.detach().clone().requires_grad_()
    w = None if w_override is None else w_override.detach().clone().requires_grad_()
    y = norm(x, weight=w)
    y.backward(g)
    gw = w.grad if w is not None else norm.weight.grad
    return y.detach(), x.grad, gw


@pytest.mark.parametrize("shape", [(1, 1, 5), (2, 17, 64), (1, 1134, 37), (3, 300, 128)])
@pytest.mark.parametrize("override", [False, True])
def test_fused_matches_float64(shape, override):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=gen, dtype=torch.float64) * 3
    g = torch.randn(*shape, generator=gen, dtype=torch.float64)
    w = torch.rand(shape[-1], generator=gen, dtype=torch.float64) + 0.5
    ref, fused = RMSNorm(shape[-1], backend="ref").double(), RMSNorm(shape[-1], backend="cpu")
    with torch.no_grad():
        ref.weight.copy_(w)
        fused.weight.copy_(w.float())
    want = _run(ref, x, w.flip(0) if override else None, g)
    got = _run(fused, x.float(), w.flip(0).float() if override else None, g.float())
    for name, a, b in zip(("y", "dx", "dweight"), got, want):
        assert a.dtype == torch.float32
        tol = 2e-6 * max(1.0, b.abs().max().item()) * (shape[0] * shape[1] if name == "dweight" else 1) ** 0.5
        torch.testing.assert_close(a.double(), b, rtol=1e-5, atol=tol, msg=name)


def test_strided_rows_and_thread_count():
    """A chunk of a wider tensor (rows not contiguous, as RC-PS passes halves) and 1 vs 3 kernel threads."""
    gen = torch.Generator().manual_seed(1)
    wide = torch.randn(2, 700, 48, generator=gen)
    g = torch.randn(2, 700, 24, generator=gen)
    half = wide[..., 24:]
    assert not half.is_contiguous()
    outs = []
    try:
        for n in (1, 3):
            cpu_scan.set_kernel_threads(n)
            norm = RMSNorm(24, backend="cpu")
            outs.append(_run(norm, half, None, g))
    finally:
        cpu_scan.set_kernel_threads(None)
    for a, b in zip(*outs):
        assert torch.equal(a, b)
    ref = _run(RMSNorm(24, backend="ref"), half, None, g)
    for a, b in zip(outs[0], ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_ref_backend_never_needs_the_kernel(monkeypatch):
    import genomamba_kernels.cpu_norm as cpu_norm

    monkeypatch.setattr(cpu_norm, "rms_norm_cpu", lambda *a: pytest.fail("ref backend called the C++ norm"))
    RMSNorm(8, backend="ref")(torch.randn(2, 3, 8))
