"""Input builders and comparison helpers shared by the SSD tests (imported as ``ssd_cases``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from genomamba_kernels.ssd_reference import ssd_loop
from scan_cases import assert_close

INPUT_NAMES = ("x", "dt", "A", "B", "C", "D", "z", "dt_bias")


@dataclass(frozen=True)
class Case:
    batch: int = 2
    length: int = 17
    heads: int = 3
    headdim: int = 5
    state: int = 6
    groups: int = 1  # B, C are (batch, length, groups, state); heads % groups == 0
    chunk: int = 8
    has_D: bool = True
    has_z: bool = True
    has_bias: bool = True
    softplus: bool = True
    reverse: bool = False
    packed: bool = False  # seq_idx with boundaries inside row 0 (and one boundary in row 1 if batch > 1)

    def __str__(self) -> str:
        on = (self.has_D, self.has_z, self.has_bias, self.softplus, self.reverse, self.packed)
        flags = "".join(c for c, f in zip("DzbsrP", on) if f)
        return (
            f"b{self.batch}L{self.length}h{self.heads}p{self.headdim}n{self.state}g{self.groups}"
            f"T{self.chunk}-{flags or 'plain'}"
        )


def make_inputs(case: Case, seed: int = 0, dtype=torch.float32):
    """Random inputs with realistic ranges: per-head decay rates from ~0.1 to ~10, dt around 0.2."""
    g = torch.Generator().manual_seed(seed)
    b, L, h, p, n = case.batch, case.length, case.heads, case.headdim, case.state

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    x = randn(b, L, h, p)
    if case.softplus:
        dt = randn(b, L, h) * 0.5 - 1.5  # raw: softplus(.) around 0.2
    else:
        dt = torch.rand(b, L, h, generator=g, dtype=torch.float64) * 0.3 + 0.01
    A = -torch.exp(randn(h) * 0.8)
    B, C = randn(b, L, case.groups, n), randn(b, L, case.groups, n)
    tensors = {
        "x": x,
        "dt": dt,
        "A": A,
        "B": B,
        "C": C,
        "D": randn(h) if case.has_D else None,
        "z": randn(b, L, h, p) if case.has_z else None,
        "dt_bias": randn(h) * 0.3 if case.has_bias else None,
    }
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


def call(fn, case: Case, t: dict, seq_idx, **extra):
    """``fn`` on the tensors of ``t`` with the case's flags; returns (out, final_state)."""
    return fn(
        t["x"],
        t["dt"],
        t["A"],
        t["B"],
        t["C"],
        t["D"],
        t["z"],
        t["dt_bias"],
        case.softplus,
        True,
        reverse=case.reverse,
        seq_idx=seq_idx,
        chunk_size=case.chunk,
        **extra,
    )


def run(fn, case: Case, tensors, seq_idx, grad_seed: int = 1, **extra):
    """Forward + backward of ``fn``; returns (out, final_state, {name: grad}). Inputs are cloned leaves."""
    leaves = {k: (v.detach().clone().requires_grad_(True) if v is not None else None) for k, v in tensors.items()}
    out, last = call(fn, case, leaves, seq_idx, **extra)
    g = torch.Generator().manual_seed(grad_seed)
    w_out = torch.randn(out.shape, generator=g, dtype=torch.float64).to(out.dtype)
    w_last = torch.randn(last.shape, generator=g, dtype=torch.float64).to(last.dtype)
    ((out * w_out).sum() + (last * w_last).sum()).backward()
    grads = {k: v.grad for k, v in leaves.items() if v is not None}
    return out.detach(), last.detach(), grads


def reference(case: Case, tensors, seq_idx):
    """The sequential oracle in float64."""
    t64 = {k: (v.double() if v is not None else None) for k, v in tensors.items()}
    return run(ssd_loop, case, t64, seq_idx)


def compare_to_reference(fn, case: Case, seed: int = 0, rel: float = 2e-4, **extra) -> None:
    """Outputs, final state and every input gradient of ``fn`` (fp32) against the float64 oracle."""
    tensors, seq_idx = make_inputs(case, seed)
    out, last, grads = run(fn, case, tensors, seq_idx, **extra)
    r_out, r_last, r_grads = reference(case, tensors, seq_idx)
    assert out.dtype == torch.float32
    assert_close(f"{case} out", out, r_out, rel)
    assert_close(f"{case} final_state", last, r_last, rel)
    assert grads.keys() == r_grads.keys()
    for name, want in r_grads.items():
        assert_close(f"{case} d{name}", grads[name], want, rel * 5)
