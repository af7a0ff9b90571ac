"""The fused C++ causal conv + SiLU (``genomamba_kernels.cpu_conv``) against the PyTorch conv in float64:
outputs and gradients of x, z, weight and bias, in both directions, across segment boundaries."""

from __future__ import annotations

import pytest
import torch
from genomamba_kernels import cpu_scan
from genomamba_kernels.cpu_conv import CHUNK, conv_silu_split

from genomamba.model.conv import conv_silu

CASES = [
    # (batch, length, channels, width, reverse, packed)
    (2, 1, 5, 4, False, False),
    (2, 17, 20, 4, True, True),
    (1, 1134, 37, 4, False, True),
    (1, 1134, 37, 4, True, True),
    (3, 2 * CHUNK + 7, 48, 4, True, False),  # task boundaries inside a row
    (1, 9, 16, 1, False, True),  # no past taps
    (2, 30, 17, 6, True, True),
]


def _inputs(B, L, D, K, packed, seed=0):
    g = torch.Generator().manual_seed(seed)
    xz = torch.randn(B, L, 2 * D, generator=g, dtype=torch.float64)
    w = torch.randn(D, K, generator=g, dtype=torch.float64)
    b = torch.randn(D, generator=g, dtype=torch.float64)
    seq = None
    if packed:  # boundaries at varied places; a label repeats after a change (still a new segment)
        seq = torch.zeros(B, L, dtype=torch.int64)
        seq[:, L // 3 :] = 1
        seq[:, L // 3 + 1 :] = 0
        seq[0, (2 * L) // 3 :] = 5
    return xz, w, b, seq


def _run(fused, dtype, xz, w, b, seq, reverse, seed=1):
    leaves = [t.detach().to(dtype).requires_grad_() for t in (xz, w, b)]
    u, z = conv_silu(*leaves, seq_idx=seq, reverse=reverse, fused=fused)
    g = torch.Generator().manual_seed(seed)
    gu = torch.randn(u.shape, generator=g, dtype=torch.float64).to(dtype)
    gz = torch.randn(z.shape, generator=g, dtype=torch.float64).to(dtype)
    ((u * gu).sum() + (z * gz).sum()).backward()
    return [u, z] + [t.grad for t in leaves]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "b{}L{}d{}k{}{}{}".format(*c[:4], "r" * c[4], "P" * c[5]))
def test_fused_matches_float64_pytorch(case):
    B, L, D, K, reverse, packed = case
    xz, w, b, seq = _inputs(B, L, D, K, packed)
    want = _run(False, torch.float64, xz, w, b, seq, reverse)
    got = _run(True, torch.float32, xz, w, b, seq, reverse)
    for name, g_, w_ in zip(("u", "z", "dxz", "dweight", "dbias"), got, want):
        assert g_.dtype == torch.float32
        # fp32 arithmetic against an fp64 oracle; weight/bias grads are sums over B*L terms
        tol = 2e-5 if name in ("u", "z", "dxz") else 2e-4
        torch.testing.assert_close(g_.double(), w_, rtol=tol, atol=tol * max(1.0, w_.abs().max().item()), msg=name)


def test_segments_never_mix():
    """Output inside a segment equals the conv of that segment alone (boundaries at any offset)."""
    xz, w, b, _ = _inputs(1, 40, 19, 4, False, seed=3)
    xz, w, b = xz.float(), w.float(), b.float()
    seq = torch.tensor([[0] * 13 + [1] * 2 + [0] * 25])
    for reverse in (False, True):
        u, _ = conv_silu_split(xz, w, b, 19, seq_idx=seq, reverse=reverse)
        for lo, hi in ((0, 13), (13, 15), (15, 40)):
            alone, _ = conv_silu_split(xz[:, lo:hi].contiguous(), w, b, 19, reverse=reverse)
            torch.testing.assert_close(u[:, lo:hi], alone)


def test_unused_outputs_and_no_bias():
    """Only u used (z gets no gradient: zeros), no bias; and only z used (u gets none)."""
    xz, w, _, seq = _inputs(2, 50, 8, 4, True)
    xz32 = xz.float().requires_grad_()
    u, z = conv_silu_split(xz32, w.float(), None, 8, seq_idx=seq)
    u.sum().backward()
    assert torch.all(xz32.grad[..., 8:] == 0) and xz32.grad[..., :8].abs().sum() > 0
    xz32.grad = None
    u, z = conv_silu_split(xz32, w.float(), None, 8, seq_idx=seq)
    z.sum().backward()
    assert torch.all(xz32.grad[..., :8] == 0) and torch.all(xz32.grad[..., 8:] == 1)


def test_results_do_not_depend_on_thread_count():
    xz, w, b, seq = _inputs(2, 3 * CHUNK + 11, 24, 4, True)
    results = []
    try:
        for n in (1, 3):
            cpu_scan.set_kernel_threads(n)
            results.append(_run(True, torch.float32, xz, w, b, seq, reverse=True))
    finally:
        cpu_scan.set_kernel_threads(None)
    for a, c in zip(*results):
        assert torch.equal(a, c)


def test_wheel_ships_the_kernel_headers():
    """The kernels include csrc/simd.h: package data must carry it, or an installed wheel cannot compile."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    headers = list((root / "kernels" / "csrc").glob("*.h"))
    assert headers and "csrc/*.h" in data["genomamba_kernels"]
