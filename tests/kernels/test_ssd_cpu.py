"""The chunked CPU SSD path against the float64 oracle: outputs, final state and all input gradients."""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import pytest
import torch
from genomamba_kernels.ssd_cpu import ssd_cpu
from scan_cases import assert_close
from ssd_cases import Case, compare_to_reference, make_inputs, reference, run

GRID = [
    # the four lengths of the issue, every option on, both directions, packed rows
    *[Case(length=L, reverse=r, packed=p) for L in (1, 17, 372, 1134) for r, p in ((False, False), (True, True))],
    Case(length=1134, heads=2, headdim=7, packed=True, chunk=64),
    Case(length=372, reverse=True, chunk=32),
    # options off, one at a time and all together
    Case(length=17, has_D=False),
    Case(length=17, has_z=False),
    Case(length=17, has_bias=False),
    Case(length=17, softplus=False),
    Case(length=372, has_D=False, has_z=False, has_bias=False, softplus=False, packed=True),
    # odd head counts and widths, grouped B/C, chunk sizes 1, odd, larger than the sequence
    Case(length=100, heads=5, headdim=3, state=16, packed=True, chunk=7),
    Case(length=60, heads=4, groups=2, packed=True, chunk=1),
    Case(length=60, heads=6, groups=3, reverse=True, chunk=16),
    Case(batch=3, length=45, heads=1, headdim=1, state=1, chunk=64),
]


@pytest.mark.parametrize("case", GRID, ids=str)
def test_cpu_matches_reference(case):
    compare_to_reference(ssd_cpu, case, block=64)


@pytest.mark.parametrize("block", [8, 24, 4096])
def test_block_boundaries(block):
    """Results do not depend on where the blocks fall (block = one chunk, several chunks, everything)."""
    case = Case(length=130, packed=True, reverse=block == 24, chunk=8)
    compare_to_reference(functools.partial(ssd_cpu, block=block), case)


def test_bf16_matmuls_close_to_fp32():
    """bf16 operands in the chunk products: within bf16 rounding of the fp32 result, gradients included."""
    case = Case(length=200, heads=4, headdim=16, state=16, packed=True, chunk=32)
    tensors, seq_idx = make_inputs(case)
    out, last, grads = run(ssd_cpu, case, tensors, seq_idx, matmul_bf16=True)
    r_out, r_last, r_grads = reference(case, tensors, seq_idx)
    assert_close("out", out, r_out, 3e-2)
    assert_close("final_state", last, r_last, 3e-2)
    for name, want in r_grads.items():
        assert_close(f"d{name}", grads[name], want, 6e-2)
    exact = run(ssd_cpu, case, tensors, seq_idx)[0]
    assert (out - exact).abs().max() > 0  # the option does change the arithmetic


def test_strided_views():
    """x, B, C as views of one (batch, length, channels) tensor (as the mixer passes them)."""
    case = Case(length=50, heads=2, headdim=4, state=3, packed=True)
    tensors, seq_idx = make_inputs(case)
    b, L = case.batch, case.length
    packed = torch.cat([tensors[k].reshape(b, L, -1) for k in ("x", "B", "C")], -1)  # (b, L, 8 + 3 + 3)
    views = dict(
        tensors,
        x=packed[..., :8].view(b, L, 2, 4),
        B=packed[..., 8:11].view(b, L, 1, 3),
        C=packed[..., 11:].view(b, L, 1, 3),
    )
    assert not views["x"].is_contiguous()
    out, last, _ = run(ssd_cpu, case, views, seq_idx)
    r_out, r_last, _ = reference(case, tensors, seq_idx)
    assert_close("out", out, r_out)
    assert_close("final_state", last, r_last)


def test_deterministic():
    case = Case(length=90, packed=True)
    tensors, seq_idx = make_inputs(case)
    a, b = run(ssd_cpu, case, tensors, seq_idx), run(ssd_cpu, case, tensors, seq_idx)
    assert torch.equal(a[0], b[0]) and all(torch.equal(a[2][k], b[2][k]) for k in a[2])


MEMORY_SCRIPT = r"""
import json, torch
from genomamba_kernels.ssd_cpu import ssd_cpu
L, H, P, N = 1 << 16, 2, 64, 64
g = torch.Generator().manual_seed(0)
x = torch.randn(1, L, H, P, generator=g, requires_grad=True)
dt = (torch.randn(1, L, H, generator=g) - 4).requires_grad_(True)
A = -torch.ones(H, requires_grad=True)
B = torch.randn(1, L, 1, N, generator=g, requires_grad=True)
C = torch.randn(1, L, 1, N, generator=g, requires_grad=True)
def hwm_kib():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))
before = hwm_kib()
ssd_cpu(x, dt, A, B, C, dt_softplus=True).square().sum().backward()
print(json.dumps({"added_kib": hwm_kib() - before, "finite": bool(torch.isfinite(x.grad).all())}))
"""


def test_memory_stays_linear():
    """Forward+backward at L = 2^16, 2 heads of 64, state 64, in a fresh process: one (L, heads, headdim, state)
    tensor would be 2 GiB; inputs, outputs and gradients together are ~0.15 GiB."""
    proc = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["finite"]
    full_state_kib = (1 << 16) * 2 * 64 * 64 * 4 // 1024
    assert res["added_kib"] < full_state_kib / 4, f"peak RSS grew by {res['added_kib'] / 1024:.0f} MiB"
