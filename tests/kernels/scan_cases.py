"""Input builders and comparison helpers shared by the selective-scan tests (imported as ``scan_cases``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from genomamba_kernels.reference import selective_scan_loop

INPUT_NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


@dataclass(frozen=True)
class Case:
    batch: int = 2
    dim: int = 13
    length: int = 17
    state: int = 5
    groups: int = 0  # 0: B, C are (batch, state, length); g >= 1: (batch, g, state, length)
    has_D: bool = True
    has_z: bool = True
    has_bias: bool = True
    softplus: bool = True
    reverse: bool = False
    packed: bool = False  # seq_idx with boundaries inside row 0 (and one boundary in row 1 if batch > 1)

    def __str__(self) -> str:
        flags = "".join(
            c
            for c, on in zip(
                "DzbsrP", (self.has_D, self.has_z, self.has_bias, self.softplus, self.reverse, self.packed)
            )
            if on
        )
        return f"b{self.batch}d{self.dim}L{self.length}n{self.state}g{self.groups}-{flags or 'plain'}"


def make_inputs(case: Case, seed: int = 0, dtype=torch.float32):
    """Random inputs with realistic ranges: decays in (0, 1) with some strong ones, positive delta."""
    g = torch.Generator().manual_seed(seed)
    b, d, L, n = case.batch, case.dim, case.length, case.state

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    u = randn(b, d, L)
    if case.softplus:
        delta = randn(b, d, L) * 0.5 - 1.5  # raw: softplus(.) around 0.2
    else:
        delta = torch.rand(b, d, L, generator=g, dtype=torch.float64) * 0.3 + 0.01
    A = -torch.exp(randn(d, n) * 0.8)  # decay rates from ~0.1 to ~10
    bc_shape = (b, n, L) if case.groups == 0 else (b, case.groups, n, L)
    B, C = randn(*bc_shape), randn(*bc_shape)
    D = randn(d) if case.has_D else None
    z = randn(b, d, L) if case.has_z else None
    bias = randn(d) * 0.3 if case.has_bias else None
    tensors = {"u": u, "delta": delta, "A": A, "B": B, "C": C, "D": D, "z": z, "delta_bias": bias}
    tensors = {k: (v.to(dtype) if v is not None else None) for k, v in tensors.items()}
    seq_idx = None
    if case.packed:
        seq_idx = torch.zeros(b, L, dtype=torch.int64)
        if L >= 3:
            seq_idx[0, L // 3 :] = 1
            seq_idx[0, (2 * L) // 3 :] = 2
        if b > 1 and L >= 2:
            seq_idx[1, L // 2 :] = 7
    return tensors, seq_idx


def run(fn, case: Case, tensors, seq_idx, grad_seed: int = 1):
    """Forward + backward of ``fn``; returns (out, last_state, {name: grad}). Inputs are cloned leaves."""
    leaves = {k: (v.detach().clone().requires_grad_(True) if v is not None else None) for k, v in tensors.items()}
    out, last = fn(
        leaves["u"],
        leaves["delta"],
        leaves["A"],
        leaves["B"],
        leaves["C"],
        leaves["D"],
        leaves["z"],
        leaves["delta_bias"],
        case.softplus,
        True,
        reverse=case.reverse,
        seq_idx=seq_idx,
    )
    g = torch.Generator().manual_seed(grad_seed)
    w_out = torch.randn(out.shape, generator=g, dtype=torch.float64).to(out.dtype)
    w_last = torch.randn(last.shape, generator=g, dtype=torch.float64).to(last.dtype)
    ((out * w_out).sum() + (last * w_last).sum()).backward()
    grads = {k: v.grad for k, v in leaves.items() if v is not None}
    return out.detach(), last.detach(), grads


def reference(case: Case, tensors, seq_idx):
    """The sequential oracle in float64."""
    t64 = {k: (v.double() if v is not None else None) for k, v in tensors.items()}
    return run(selective_scan_loop, case, t64, seq_idx)


def assert_close(name: str, got: torch.Tensor, want: torch.Tensor, rel: float = 2e-4) -> None:
    """|got - want| <= rel * max|want| + 1e-6, elementwise, with the worst element in the message."""
    got, want = got.double(), want.double()
    assert got.shape == want.shape, f"{name}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    assert torch.isfinite(got).all(), f"{name}: non-finite values"
    scale = want.abs().max().item() if want.numel() else 0.0
    err = (got - want).abs()
    tol = rel * scale + 1e-6
    worst = err.max().item() if err.numel() else 0.0
    assert worst <= tol, f"{name}: max abs err {worst:.3e} > tol {tol:.3e} (scale {scale:.3e})"


def compare_to_reference(fn, case: Case, seed: int = 0, rel: float = 2e-4) -> None:
    """Outputs, last state and every input gradient of ``fn`` (fp32) against the float64 oracle."""
    tensors, seq_idx = make_inputs(case, seed)
    out, last, grads = run(fn, case, tensors, seq_idx)
    r_out, r_last, r_grads = reference(case, tensors, seq_idx)
    assert out.dtype == torch.float32
    assert_close(f"{case} out", out, r_out, rel)
    assert_close(f"{case} last_state", last, r_last, rel)
    for name, want in r_grads.items():
        assert_close(f"{case} d{name}", grads[name], want, rel * 5)
