"""The two pure-PyTorch references agree with each other, pass float64 gradcheck, and backprop in O(L)."""

from __future__ import annotations

import pytest
import torch
from genomamba_kernels.reference import selective_scan_chunked, selective_scan_loop
from scan_cases import Case, assert_close, make_inputs, run

CASES = [
    Case(length=1),
    Case(length=17),
    Case(length=17, reverse=True, packed=True),
    Case(length=40, dim=6, groups=2, packed=True),
    Case(length=40, dim=6, groups=3, reverse=True, has_z=False, has_bias=False),
    Case(length=33, has_D=False, softplus=False, packed=True),
    Case(batch=1, length=372, dim=3, state=4, packed=True, reverse=True),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_loop_matches_chunked_closed_form(case):
    tensors, seq_idx = make_inputs(case)
    t64 = {k: (v.double() if v is not None else None) for k, v in tensors.items()}
    out_a, last_a, grads_a = run(selective_scan_loop, case, t64, seq_idx)
    out_b, last_b, grads_b = run(selective_scan_chunked, case, t64, seq_idx)
    assert_close("out", out_a, out_b, 1e-10)
    assert_close("last_state", last_a, last_b, 1e-10)
    for name in grads_a:
        assert_close(f"d{name}", grads_a[name], grads_b[name], 1e-9)


@pytest.mark.parametrize(
    "case",
    [
        Case(batch=1, dim=2, length=5, state=3),
        Case(batch=2, dim=4, length=6, state=2, groups=2, reverse=True, packed=True),
    ],
    ids=str,
)
@pytest.mark.parametrize("fn", [selective_scan_loop, selective_scan_chunked], ids=["loop", "chunked"])
def test_gradcheck_float64(case, fn):
    tensors, seq_idx = make_inputs(case)
    names = [k for k, v in tensors.items() if v is not None]
    leaves = [tensors[k].double().requires_grad_(True) for k in names]

    def f(*xs):
        kw = dict(zip(names, xs))
        full = {k: kw.get(k) for k in tensors}
        out, last = fn(
            full["u"],
            full["delta"],
            full["A"],
            full["B"],
            full["C"],
            full["D"],
            full["z"],
            full["delta_bias"],
            case.softplus,
            True,
            reverse=case.reverse,
            seq_idx=seq_idx,
        )
        return out, last

    assert torch.autograd.gradcheck(f, leaves, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_reverse_equals_flip_scan_flip():
    case = Case(length=23, packed=True)
    tensors, seq_idx = make_inputs(case)
    t = tensors
    out_r, last_r = selective_scan_loop(
        t["u"],
        t["delta"],
        t["A"],
        t["B"],
        t["C"],
        t["D"],
        t["z"],
        t["delta_bias"],
        True,
        True,
        reverse=True,
        seq_idx=seq_idx,
    )
    flip = {k: (v.flip(-1) if v is not None and k not in ("A", "D", "delta_bias") else v) for k, v in t.items()}
    out_f, last_f = selective_scan_loop(
        flip["u"],
        flip["delta"],
        flip["A"],
        flip["B"],
        flip["C"],
        flip["D"],
        flip["z"],
        flip["delta_bias"],
        True,
        True,
        seq_idx=seq_idx.flip(-1),
    )
    assert_close("out", out_r, out_f.flip(-1), 1e-6)
    assert_close("last_state", last_r, last_f, 1e-6)


def _graph_node_names(root) -> list[str]:
    seen, stack, names = set(), [root], []
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        names.append(type(fn).__name__)
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return names


def test_loop_oracle_backward_graph_is_linear():
    """No per-step SelectBackward (each would allocate a length-sized zero tensor: O(L^2) backward)."""
    sizes = {}
    for length in (32, 64):
        tensors, _ = make_inputs(Case(batch=1, dim=2, length=length, state=2))
        u = tensors["u"].requires_grad_(True)
        out = selective_scan_loop(u, tensors["delta"], tensors["A"], tensors["B"], tensors["C"])
        names = _graph_node_names(out.grad_fn)
        assert not [n for n in names if n.startswith("Select")], "indexing inside the loop: O(L^2) backward"
        sizes[length] = len(names)
    # a constant number of autograd nodes per step: the graph (and the backward) grows linearly with L
    per_step = (sizes[64] - sizes[32]) / 32
    assert 1 <= per_step <= 8, sizes
