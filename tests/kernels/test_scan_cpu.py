"""The fused C++ CPU path against the float64 oracle: outputs, last state and all input gradients."""

from __future__ import annotations

import functools

import pytest
import torch
from genomamba_kernels.cpu_scan import selective_scan_cpu
from scan_cases import Case, assert_close, compare_to_reference, make_inputs, reference, run

GRID = [
    # the four lengths of the issue, every option on, both directions, packed rows
    *[Case(length=L, reverse=r, packed=p) for L in (1, 17, 372, 1134) for r, p in ((False, False), (True, True))],
    Case(length=1134, dim=5, packed=True),
    Case(length=372, reverse=True),
    # options off, one at a time and all together
    Case(length=17, has_D=False),
    Case(length=17, has_z=False),
    Case(length=17, has_bias=False),
    Case(length=17, softplus=False),
    Case(length=372, has_D=False, has_z=False, has_bias=False, softplus=False, packed=True),
    # dims that are not powers of two nor multiples of the 8-lane tile; grouped B/C; the state-16 fast path
    Case(dim=37, length=100, state=16, packed=True),
    Case(dim=37, length=100, state=16, reverse=True),
    Case(dim=24, length=60, groups=2, packed=True),
    Case(dim=24, length=60, groups=3, reverse=True),
    Case(dim=20, length=45, state=16, groups=4),
    Case(batch=3, dim=3, length=90, state=1),
]


@pytest.mark.parametrize("case", GRID, ids=str)
def test_cpu_matches_reference(case):
    compare_to_reference(selective_scan_cpu, case)


@pytest.mark.parametrize("block", [1, 7, 64, 200])
def test_block_boundaries(block):
    """Results do not depend on where the checkpoint blocks fall (including one block for everything)."""
    case = Case(length=130, packed=True, reverse=block == 7)
    compare_to_reference(functools.partial(selective_scan_cpu, block=block), case)


def test_strided_views_and_broadcast_grad():
    """(batch, length, dim) views as the model passes them, B/C as (batch, length, state) views, and the
    stride-0 gradient of out.sum()."""
    case = Case(dim=19, length=50, state=16, packed=True)
    tensors, seq_idx = make_inputs(case)
    r_out, r_last, _ = reference(case, tensors, seq_idx)

    def as_view(t):  # same values, stored as (batch, length, channels)
        return t.transpose(-1, -2).contiguous().transpose(-1, -2)

    views = {k: (as_view(v) if k in ("u", "delta", "z", "B", "C") else v) for k, v in tensors.items()}
    assert not views["u"].is_contiguous()
    out, last, grads = run(selective_scan_cpu, case, views, seq_idx)
    assert_close("out", out, r_out)
    assert_close("last_state", last, r_last)
    # out.sum() backward hands the kernel an expanded (stride-0) gradient
    leaves = {k: (v.clone().requires_grad_(True) if v is not None else None) for k, v in views.items()}
    out2 = selective_scan_cpu(
        *[leaves[k] for k in ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")],
        delta_softplus=True,
        seq_idx=seq_idx,
    )
    out2.sum().backward()
    t64 = {k: (v.double().requires_grad_(True) if v is not None else None) for k, v in tensors.items()}
    from genomamba_kernels.reference import selective_scan_loop

    selective_scan_loop(
        *[t64[k] for k in ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")], delta_softplus=True, seq_idx=seq_idx
    ).sum().backward()
    for k, v in leaves.items():
        if v is not None:
            assert_close(f"d{k}", v.grad, t64[k].grad, 1e-3)


def test_deterministic():
    case = Case(dim=37, length=300, state=16, packed=True)
    tensors, seq_idx = make_inputs(case)
    first = run(selective_scan_cpu, case, tensors, seq_idx)
    second = run(selective_scan_cpu, case, tensors, seq_idx)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    for name in first[2]:
        assert torch.equal(first[2][name], second[2][name]), name


@pytest.mark.parametrize("reverse", [False, True])
def test_no_leak_across_sequence_boundaries(reverse):
    """Changing every input of one packed sequence changes nothing outside it, and no gradient crosses."""
    case = Case(batch=1, dim=9, length=60, packed=True, reverse=reverse)
    tensors, seq_idx = make_inputs(case)
    middle = seq_idx[0] == 1
    base = selective_scan_cpu(*tensors.values(), delta_softplus=True, seq_idx=seq_idx)
    poked = {k: v.clone() if v is not None else None for k, v in tensors.items()}
    for k in ("u", "delta", "z"):
        poked[k][..., middle] += 3.0
    for k in ("B", "C"):
        poked[k][..., middle] *= -2.0
    moved = selective_scan_cpu(*poked.values(), delta_softplus=True, seq_idx=seq_idx)
    assert torch.equal(base[..., ~middle], moved[..., ~middle])
    assert not torch.equal(base[..., middle], moved[..., middle])
    u = tensors["u"].clone().requires_grad_(True)
    out = selective_scan_cpu(u, *list(tensors.values())[1:], delta_softplus=True, seq_idx=seq_idx)
    out[..., ~middle].sum().backward()
    assert torch.count_nonzero(u.grad[..., middle]) == 0
    assert torch.count_nonzero(u.grad[..., ~middle]) > 0


def test_bf16_inputs_computed_in_fp32():
    case = Case(dim=16, length=64, state=16)
    tensors, seq_idx = make_inputs(case)
    low = {k: (v.bfloat16() if v is not None and k in ("u", "delta", "z", "B", "C") else v) for k, v in tensors.items()}
    out, last = selective_scan_cpu(*low.values(), delta_softplus=True, return_last_state=True)
    assert out.dtype == torch.bfloat16 and last.dtype == torch.float32
    upcast = {k: (v.float() if v is not None else None) for k, v in low.items()}
    want = selective_scan_cpu(*upcast.values(), delta_softplus=True)
    assert_close("out", out.float(), want, 1e-2)


def test_thread_counts_agree_and_repeat_exactly():
    """Per-thread scratch (a shared one raced once): 1 and 2 threads agree, and 2-thread runs repeat bitwise."""
    case = Case(batch=1, dim=20, length=129, state=16, packed=True)
    tensors, seq_idx = make_inputs(case)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = run(selective_scan_cpu, case, tensors, seq_idx)
        torch.set_num_threads(2)
        runs = [run(selective_scan_cpu, case, tensors, seq_idx) for _ in range(5)]
    finally:
        torch.set_num_threads(before)
    for other in runs[1:]:
        assert torch.equal(runs[0][0], other[0])
        for name in runs[0][2]:
            assert torch.equal(runs[0][2][name], other[2][name]), name
    assert_close("out", runs[0][0], single[0], 1e-6)
    for name in single[2]:
        assert_close(f"d{name}", runs[0][2][name], single[2][name], 1e-5)
