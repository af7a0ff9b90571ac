"""The two SSD references agree with each other, pass float64 gradcheck, and honour reverse and boundaries."""

from __future__ import annotations

import pytest
import torch
from genomamba_kernels.ssd_reference import ssd_chunked, ssd_loop
from scan_cases import assert_close
from ssd_cases import Case, call, make_inputs, run

CASES = [
    Case(length=1),
    Case(length=17),
    Case(length=17, reverse=True, packed=True),
    Case(length=40, heads=4, groups=2, packed=True, chunk=16),
    Case(length=40, heads=6, groups=3, reverse=True, has_z=False, has_bias=False, chunk=5),
    Case(length=33, has_D=False, softplus=False, packed=True, chunk=1),
    Case(batch=1, length=372, heads=2, headdim=3, state=4, packed=True, reverse=True, chunk=64),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_loop_matches_chunked_form(case):
    tensors, seq_idx = make_inputs(case)
    t64 = {k: (v.double() if v is not None else None) for k, v in tensors.items()}
    out_a, last_a, grads_a = run(ssd_loop, case, t64, seq_idx)
    out_b, last_b, grads_b = run(ssd_chunked, case, t64, seq_idx)
    assert_close("out", out_a, out_b, 1e-10)
    assert_close("final_state", last_a, last_b, 1e-10)
    for name in grads_a:
        assert_close(f"d{name}", grads_a[name], grads_b[name], 1e-9)


@pytest.mark.parametrize(
    "case",
    [
        Case(batch=1, length=5, heads=2, headdim=2, state=3, chunk=2),
        Case(batch=2, length=6, heads=2, headdim=2, state=2, groups=2, reverse=True, packed=True, chunk=4),
    ],
    ids=str,
)
@pytest.mark.parametrize("fn", [ssd_loop, ssd_chunked], ids=["loop", "chunked"])
def test_gradcheck_float64(case, fn):
    tensors, seq_idx = make_inputs(case, dtype=torch.float64)
    names = [k for k, v in tensors.items() if v is not None]
    leaves = [tensors[k].requires_grad_(True) for k in names]

    def f(*xs):
        kw = dict(zip(names, xs))
        return call(fn, case, {k: kw.get(k) for k in tensors}, seq_idx)

    assert torch.autograd.gradcheck(f, leaves, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_reverse_equals_flip_scan_flip():
    fwd, rev = Case(length=23, packed=True), Case(length=23, packed=True, reverse=True)
    tensors, seq_idx = make_inputs(fwd)
    flip = {k: (v.flip(1) if k in ("x", "dt", "B", "C", "z") else v) for k, v in tensors.items()}
    out_f, last_f = call(ssd_loop, fwd, flip, seq_idx.flip(-1))
    out_r, last_r = call(ssd_loop, rev, tensors, seq_idx)
    assert_close("out", out_r, out_f.flip(1), 1e-6)
    assert_close("final_state", last_r, last_f, 1e-6)


@pytest.mark.parametrize("reverse", [False, True])
def test_segments_are_independent(reverse):
    """With seq_idx, each segment's output equals the scan of that segment alone (nothing leaks either way)."""
    case = Case(batch=1, length=30, packed=True, reverse=reverse)
    tensors, seq_idx = make_inputs(case)
    whole = call(ssd_loop, case, tensors, seq_idx)[0]
    bounds = [0, 10, 20, 30]  # make_inputs puts the boundaries of row 0 at L // 3 and 2L // 3
    for lo, hi in zip(bounds, bounds[1:]):
        part = {k: (v[:, lo:hi] if k in ("x", "dt", "B", "C", "z") else v) for k, v in tensors.items()}
        alone = call(ssd_loop, Case(batch=1, length=hi - lo, reverse=reverse), part, None)[0]
        assert_close(f"segment {lo}:{hi}", whole[:, lo:hi], alone, 1e-6)


def test_heads_share_their_group():
    """Grouped B/C: heads of one group see the same B, C (the result equals per-head copies of the group's)."""
    case = Case(batch=1, length=12, heads=4, groups=2)
    tensors, _ = make_inputs(case)
    grouped = call(ssd_loop, case, tensors, None)[0]
    per_head = dict(tensors, B=tensors["B"].repeat_interleave(2, 2), C=tensors["C"].repeat_interleave(2, 2))
    expanded = call(ssd_loop, Case(batch=1, length=12, heads=4, groups=4), per_head, None)[0]
    assert_close("out", grouped, expanded, 1e-6)
