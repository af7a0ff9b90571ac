"""The scan step of ``benchmarks/gpu_check.py``: what runs at which shapes, within the step's time budget.

Order (what issue 15 asks first comes first): ``fused_triton`` and ``torch_loop`` at the batch-1 shapes, the dtype
check (fp32/bf16/fp16 against the float64 oracle), the batch-8 shapes, then ``chunked_compiled`` at the selected
shapes (a compile per shape and mode, so last). Peers, gates, trusted results and timing are in ``gpu_scan.py``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from gpu_scan import (
    GRAD_NAMES,
    LOW_PRECISION,
    Shape,
    dry_shapes,
    forward_backward,
    gate,
    make_inputs,
    peer_fn,
    randn,
    real_shapes,
    rel_err,
    timed,
    trusted,
)


@dataclass
class ScanPlan:
    shapes: list[Shape]
    peers: tuple[str, ...] = ("fused_triton", "torch_loop", "chunked_compiled")
    loop_max_length: int = 4096  # torch_loop runs one Python step per position: timed up to here
    compiled_keys: tuple[str, ...] = ("b1_d256_n16_L65536", "b8_d2048_n16_L2048_gated")  # compile time bounds it
    loop_truth_bytes: int = 1 << 30  # float64 loop oracle as trusted result up to this size (and loop_max_length)
    compile_peers: bool = True
    warmup: int = 2
    target_s: float = 0.25
    max_reps: int = 20
    dtype_shape: Shape = Shape(2, 64, 2048, model_like=True)
    dtypes: tuple[str, ...] = ("float32", "bfloat16", "float16")


def plan(dry: bool) -> ScanPlan:
    if dry:  # one call of each path on tiny shapes; the fused CPU kernel stands in as trusted result for one
        return ScanPlan(
            shapes=dry_shapes(),
            loop_max_length=40,
            compiled_keys=tuple(s.key for s in dry_shapes()),
            loop_truth_bytes=dry_shapes()[0].state_bytes * 2,  # the second shape uses the CPU kernel
            compile_peers=False,
            warmup=0,
            max_reps=1,
            dtype_shape=Shape(1, 4, 16, state=4, model_like=True),
        )
    return ScanPlan(shapes=real_shapes())


def describe(p: ScanPlan) -> dict:
    """What the step would run, for the plan section of the report."""
    d = asdict(p)
    d["shapes"] = [s.key for s in p.shapes]
    d["dtype_shape"] = p.dtype_shape.key
    d["modes"] = ["fwd", "fwdbwd"]
    return d


def _skip_reason(peer: str, shape: Shape, p: ScanPlan, free_bytes: int | None) -> str | None:
    if peer == "torch_loop":
        if shape.length > p.loop_max_length:
            return f"sequential Python loop: timed up to L = {p.loop_max_length:,}"
        need = 8 * shape.state_bytes
    elif peer == "chunked_compiled":
        if shape.key not in p.compiled_keys:
            return "compiled at the selected shapes only (each shape costs a compile): " + ", ".join(p.compiled_keys)
        need = 12 * shape.state_bytes
    else:
        return None
    if free_bytes is not None and need > 0.8 * free_bytes:
        return f"needs about {need / 2**30:.0f} GiB (estimate), {free_bytes / 2**30:.0f} GiB free"
    return None


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _bench_peer(peer: str, shape: Shape, p: ScanPlan, inputs, dout, want, cuda: bool) -> list[dict]:
    """Gate, then time fwd and fwd+bwd; one record per mode (a failed gate or an OOM is the record)."""
    base = {"kind": "timing", "peer": peer, "shape": shape.key, **asdict(shape)}
    try:
        fn = peer_fn(peer, p.compile_peers)
        g = gate(fn, shape, inputs, dout, want)
        if not g["passed"]:
            return [{**base, "mode": m, "status": "wrong", "gate": g} for m in ("fwd", "fwdbwd")]
        args = [inputs[k] for k in GRAD_NAMES]
        leaves = [a.detach().clone().requires_grad_(True) if a is not None else None for a in args]
        present = [a for a in leaves if a is not None]

        def fwd():
            with torch.no_grad():
                fn(*args, softplus=shape.model_like)

        def fwdbwd():
            torch.autograd.grad(fn(*leaves, softplus=shape.model_like), present, dout)

        recs = []
        for mode, call in (("fwd", fwd), ("fwdbwd", fwdbwd)):
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            t = timed(call, cuda, p.warmup, p.target_s, p.max_reps)
            tokens = shape.batch * shape.length
            rec = {**base, "mode": mode, "status": "ok", "gate": g, **t, "tokens_per_s": tokens / t["median_ms"] * 1e3}
            if cuda:
                rec["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
            recs.append(rec)
        return recs
    except Exception as exc:  # recorded, never raised: the other peers and shapes still run
        status = "oom" if _is_oom(exc) else "error"
        return [{**base, "mode": "fwd+fwdbwd", "status": status, "error": f"{type(exc).__name__}: {exc}"[:500]}]
    finally:
        if cuda:
            torch.cuda.empty_cache()


def _shape_pass(shapes, peers, p: ScanPlan, device: str, emit, deadline: float, need_s: float) -> None:
    """Every shape for ``peers``; a shape is skipped (recorded) once less than ``need_s`` of the budget is left."""
    cuda = device == "cuda"
    for shape in shapes:
        free = torch.cuda.mem_get_info()[0] if cuda else None
        todo = [(peer, _skip_reason(peer, shape, p, free)) for peer in peers]
        if deadline - time.perf_counter() < need_s:
            late = f"the step's time budget is nearly spent (< {need_s:.0f} s left)"
            todo = [(peer, why or late) for peer, why in todo]
        for peer, why in todo:
            if why:
                emit({"kind": "timing", "peer": peer, "shape": shape.key, "status": "skipped", "reason": why})
        run = [peer for peer, why in todo if not why]
        if not run:
            continue
        try:
            inputs = make_inputs(shape, device)
            dout = randn(shape.batch, shape.dim, shape.length, device=device, seed=100)
            t0 = time.perf_counter()
            small = shape.length <= p.loop_max_length and 2 * shape.state_bytes <= p.loop_truth_bytes
            want = trusted(shape, inputs, dout, use_loop=small)
            seconds = time.perf_counter() - t0
            emit({"kind": "trusted", "shape": shape.key, "status": "ok", "source": want[0], "seconds": seconds})
        except Exception as exc:
            emit({"kind": "trusted", "shape": shape.key, "status": "error", "error": f"{type(exc).__name__}: {exc}"})
            continue
        for peer in run:
            for rec in _bench_peer(peer, shape, p, inputs, dout, want, cuda):
                emit(rec)
        del inputs, dout, want
        if cuda:
            torch.cuda.empty_cache()


def dtype_check(p: ScanPlan, device: str, emit) -> None:
    """fused_triton on fp32/bf16/fp16 inputs vs the float64 oracle, within twice the PyTorch loop's own error."""
    from genomamba_kernels.reference import selective_scan_loop

    shape = p.dtype_shape
    base = make_inputs(shape, device, seed=3)
    dout = randn(shape.batch, shape.dim, shape.length, device=device, seed=100)
    loop = lambda *a, softplus: selective_scan_loop(*a, delta_softplus=softplus)
    fused = peer_fn("fused_triton", False)
    atol = {"float32": 1e-4, "bfloat16": 1e-3, "float16": 1e-3}  # relative L2, added to 2x the loop error
    for name in p.dtypes:
        dtype = getattr(torch, name)
        rec = {"kind": "dtype", "dtype": name, "shape": shape.key}
        try:
            low = {k: (v.to(dtype) if v is not None and k in LOW_PRECISION else v) for k, v in base.items()}
            t64 = {k: (v.double() if v is not None else None) for k, v in low.items()}
            ref_out, ref_grads = forward_backward(loop, t64, True, dout.double())
            errs = {}
            for label, fn in (("fused", fused), ("loop", loop)):
                out, grads = forward_backward(fn, low, True, dout.to(dtype))
                errs[label] = {"out": rel_err(out, ref_out)}
                errs[label].update({f"d{k}": rel_err(g, ref_grads[k]) for k, g in grads.items()})
            bound = {k: 2 * v + atol[name] for k, v in errs["loop"].items()}
            passed = all(errs["fused"][k] <= bound[k] for k in bound)
            rec.update(status="ok" if passed else "wrong", passed=passed, bound=bound)
            emit({**rec, "fused_rel_err": errs["fused"], "loop_rel_err": errs["loop"]})
        except Exception as exc:
            emit({**rec, "status": "error", "passed": False, "error": f"{type(exc).__name__}: {exc}"[:500]})


def run_step(emit, dry: bool, budget_s: float) -> dict:
    """The scan step, most wanted first: fused_triton (and torch_loop) at the batch-1 shapes, the dtype check,
    the batch-8 shapes, then the compiled peer (a compile per shape and mode, so it runs only while 35 s are left)."""
    deadline = time.perf_counter() + budget_s
    p = plan(dry)
    device = "cuda" if torch.cuda.is_available() and not dry else "cpu"
    torch.manual_seed(0)
    eager = [x for x in p.peers if x != "chunked_compiled"]
    _shape_pass([s for s in p.shapes if s.batch == 1], eager, p, device, emit, deadline, 8.0)
    dtype_check(p, device, emit)
    _shape_pass([s for s in p.shapes if s.batch > 1], eager, p, device, emit, deadline, 8.0)
    if "chunked_compiled" in p.peers:
        picked = [s for s in p.shapes if s.key in p.compiled_keys]
        _shape_pass(picked, ["chunked_compiled"], p, device, emit, deadline, 0.0 if dry else 35.0)
    return {"device": device, "compiled": p.compile_peers}
