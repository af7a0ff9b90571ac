"""Selective-scan benchmark on a CUDA device, one step of ``benchmarks/gpu_check.py``.

Every (peer, shape) is first checked against a trusted result on the same inputs (output and every input gradient),
and only a peer that passes is timed: CUDA events, warm-up calls, the median of repeats. Peers:

* ``fused_triton``: ``genomamba.ops.selective_scan(backend="triton")``;
* ``torch_loop``: ``genomamba_kernels.reference.selective_scan_loop`` (the sequential oracle, fp32), at short lengths;
* ``chunked_compiled``: :func:`chunked_scan` under ``torch.compile`` (a plain-PyTorch scan a user could write:
  sequential inside 16-step chunks, a doubling scan over the chunk carries), where its memory estimate fits.

The trusted result is the float64 loop oracle where it is small, else the fused CPU kernel (fp32; itself tested
against the oracle in tests/kernels). A separate dtype check runs the Triton kernel on fp32, bf16 and fp16 inputs
against the float64 oracle with the scaled tolerance |fused - ref| <= 2 |loop - ref| + atol, where ``loop`` is the
PyTorch loop on the same low-precision inputs (flash-attn's rule: the kernel may be at most twice as far off as the
plain PyTorch code is).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

GRAD_NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")
LOW_PRECISION = ("u", "delta", "z", "B", "C")  # the inputs that arrive in bf16/fp16 (A, D, bias stay fp32)
GATE_TOL = {"out": 1e-3, "grad": 1e-2}  # fp32 peers vs the trusted result, relative L2 error


@dataclass(frozen=True)
class Shape:
    """One benchmark problem. ``model_like``: softplus(delta + bias) and a silu(z) gate, as inside the model."""

    batch: int
    dim: int
    length: int
    state: int = 16
    model_like: bool = False

    @property
    def key(self) -> str:
        return f"b{self.batch}_d{self.dim}_n{self.state}_L{self.length}{'_gated' if self.model_like else ''}"

    @property
    def state_bytes(self) -> int:
        """Bytes of one materialised fp32 (batch, dim, length, state) tensor."""
        return self.batch * self.dim * self.length * self.state * 4


def real_shapes() -> list[Shape]:
    """Issue 15: L = 2^16 and 2^20 at D = 256, N = 16; mamba-ssm's shapes (batch 8, D = 2048, L = 2k..64k)."""
    paper = [Shape(8, 2048, 1 << k, model_like=True) for k in range(11, 17)]
    return [Shape(1, 256, 1 << 16), Shape(1, 256, 1 << 20), *paper]


def dry_shapes() -> list[Shape]:
    return [Shape(1, 4, 40, state=4), Shape(2, 4, 24, state=4, model_like=True)]


def randn(*shape: int, device: str, seed: int) -> torch.Tensor:
    """Standard normal fp32 drawn on ``device`` (a CPU draw of the 1G-element inputs would take seconds)."""
    return torch.randn(*shape, device=device, generator=torch.Generator(device=device).manual_seed(seed))


def make_inputs(shape: Shape, device: str, seed: int = 0) -> dict:
    """fp32 inputs; delta = softplus(N(-4, 0.5)) (or raw N(-4, 0.5) + bias for model-like), A = -[1..N]."""
    b, d, L, n = shape.batch, shape.dim, shape.length, shape.state
    raw = randn(b, d, L, device=device, seed=seed) * 0.5 - 4.0
    return {
        "u": randn(b, d, L, device=device, seed=seed + 1),
        "delta": raw if shape.model_like else F.softplus(raw),
        "A": -torch.arange(1, n + 1, dtype=torch.float32, device=device).repeat(d, 1),
        "B": randn(b, n, L, device=device, seed=seed + 2),
        "C": randn(b, n, L, device=device, seed=seed + 3),
        "D": randn(d, device=device, seed=seed + 4),
        "z": randn(b, d, L, device=device, seed=seed + 5) if shape.model_like else None,
        "delta_bias": randn(d, device=device, seed=seed + 6) * 0.1 if shape.model_like else None,
    }


def chunked_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, chunk: int = 16):
    """Selective scan in plain PyTorch, fp32 (fp64 for fp64 inputs) inside; B, C (batch, state, length); memory
    O(batch*dim*length*state).

    Inside each chunk of ``chunk`` positions the state runs sequentially from zero (all chunks at once); the chunk
    end states are then joined by a doubling (Hillis-Steele) scan, and each position adds its chunk's incoming
    state times the decay accumulated since the chunk start.
    """
    dtype_in = u.dtype
    work = torch.float64 if u.dtype == torch.float64 else torch.float32  # fp64 when asked: a trusted result
    b, d, L = u.shape
    n = A.shape[1]
    u, delta, B, C, A = (t.to(work) for t in (u, delta, B, C, A))
    if delta_bias is not None:
        delta = delta + delta_bias.to(work)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    pad = (-L) % chunk  # trailing padding: delta 0 (decay 1, drive 0) leaves the real positions unchanged
    nc = (L + pad) // chunk
    dp, up = F.pad(delta, (0, pad)), F.pad(u, (0, pad))
    Bc = F.pad(B, (0, pad)).view(b, 1, n, nc, chunk).permute(0, 1, 3, 4, 2)  # (b, 1, nc, T, n)
    Cc = F.pad(C, (0, pad)).view(b, 1, n, nc, chunk).permute(0, 1, 3, 4, 2)
    log_decay = dp.view(b, d, nc, chunk, 1) * A.view(1, d, 1, 1, n)  # (b, d, nc, T, n)
    drive = (dp * up).view(b, d, nc, chunk, 1) * Bc
    decay = log_decay.exp()
    x = torch.zeros(b, d, nc, n, device=u.device, dtype=work)
    local = []
    for t in range(chunk):  # sequential inside every chunk at once: (b, d, nc, n) per step
        x = decay[:, :, :, t] * x + drive[:, :, :, t]
        local.append(x)
    x_local = torch.stack(local, dim=3)  # (b, d, nc, T, n): state from a zero start at each chunk
    since_start = torch.cumsum(log_decay, dim=3).exp()  # decay from the chunk start through t
    a, h = since_start[:, :, :, -1], x_local[:, :, :, -1]  # per-chunk decay and end state, (b, d, nc, n)
    k = 1
    while k < nc:  # doubling scan over chunks: h[c] becomes the global state at the end of chunk c
        h = torch.cat([h[:, :, :k], h[:, :, k:] + a[:, :, k:] * h[:, :, :-k]], dim=2)
        a = torch.cat([a[:, :, :k], a[:, :, k:] * a[:, :, :-k]], dim=2)
        k *= 2
    incoming = torch.cat([torch.zeros_like(h[:, :, :1]), h[:, :, :-1]], dim=2)  # state entering chunk c
    states = x_local + since_start * incoming[:, :, :, None, :]
    y = (states * Cc).sum(-1).reshape(b, d, nc * chunk)[:, :, :L]
    if D is not None:
        y = y + u * D.to(work)[:, None]
    if z is not None:
        y = y * F.silu(z.to(work))
    return y.to(dtype_in)


def peer_fn(peer: str, compile_peers: bool) -> Callable:
    """(u, delta, A, B, C, D, z, delta_bias, softplus) -> out, for ``peer``."""
    if peer == "fused_triton":
        from genomamba.ops import selective_scan

        return lambda *a, softplus: selective_scan(*a, delta_softplus=softplus, backend="triton")
    if peer == "torch_loop":
        from genomamba_kernels.reference import selective_scan_loop

        return lambda *a, softplus: selective_scan_loop(*a, delta_softplus=softplus)
    if peer == "chunked_compiled":
        fn = torch.compile(chunked_scan, dynamic=False) if compile_peers else chunked_scan
        return lambda *a, softplus: fn(*a, delta_softplus=softplus)
    raise ValueError(f"unknown peer {peer}")


def rel_err(got: torch.Tensor, want: torch.Tensor, block: int = 1 << 25) -> float:
    """||got - want|| / ||want||, summed in float64 on got's device in blocks (the inputs can be 1G elements);
    a non-finite value gives inf, so NaN never passes."""
    got, want = got.detach().reshape(-1), want.detach().reshape(-1)
    num = den = 0.0
    for i in range(0, got.numel(), block):
        g = got[i : i + block].double()
        w = want[i : i + block].to(g.device, torch.float64)
        if not torch.isfinite(g).all():
            return math.inf
        num += float((g - w).square().sum())
        den += float(w.square().sum())
    return math.sqrt(num) / max(math.sqrt(den), 1e-30)


def forward_backward(fn: Callable, inputs: dict, softplus: bool, dout: torch.Tensor):
    """Output and the gradients of (out * dout).sum() for every input that is present."""
    leaves = {k: (v.detach().clone().requires_grad_(True) if v is not None else None) for k, v in inputs.items()}
    out = fn(*[leaves[k] for k in GRAD_NAMES], softplus=softplus)
    present = [k for k in GRAD_NAMES if leaves[k] is not None]
    grads = torch.autograd.grad(out, [leaves[k] for k in present], dout.to(out.dtype))
    return out.detach(), dict(zip(present, grads))


def trusted(shape: Shape, inputs: dict, dout: torch.Tensor, use_loop: bool) -> tuple[str, torch.Tensor, dict]:
    """The result a peer must match: the float64 loop oracle (``use_loop``: small and short problems only), else
    the fused CPU kernel in fp32, else (no C++ compiler) the chunked scan in float64 on the inputs' device."""
    from genomamba_kernels.reference import selective_scan_loop

    if use_loop:
        t64 = {k: (v.double() if v is not None else None) for k, v in inputs.items()}
        fn = lambda *a, softplus: selective_scan_loop(*a, delta_softplus=softplus)
        out, grads = forward_backward(fn, t64, shape.model_like, dout.double())
        return "float64 loop oracle", out, grads
    try:
        from genomamba_kernels.cpu_scan import load_library, selective_scan_cpu

        load_library()
    except Exception as exc:  # the kernel is compiled at first use: a machine without g++ cannot
        out, grads = _blocked_fp64(shape, inputs, dout)
        return f"float64 chunked scan by channel blocks (CPU kernel unavailable: {exc})"[:300], out, grads
    cpu = {k: (v.cpu() if v is not None else None) for k, v in inputs.items()}
    fn = lambda *a, softplus: selective_scan_cpu(*a, delta_softplus=softplus)
    out, grads = forward_backward(fn, cpu, shape.model_like, dout.cpu())
    return "fused CPU kernel (fp32)", out, grads


def _blocked_fp64(shape: Shape, inputs: dict, dout: torch.Tensor, block_elems: int = 1 << 27):
    """chunked_scan in float64, a block of channels at a time (channels are independent; dB, dC are summed over
    blocks). Results go to the CPU in fp32, so device memory holds one block's work only."""
    per = max(1, block_elems // (shape.batch * shape.length * shape.state))
    fn = lambda *a, softplus: chunked_scan(*a, delta_softplus=softplus)
    channel = {"u": 1, "delta": 1, "z": 1, "A": 0, "D": 0, "delta_bias": 0}  # the channel axis of each input
    outs, grads = [], {}
    for lo in range(0, shape.dim, per):
        part = {}
        for k, v in inputs.items():
            if v is not None and k in channel:
                v = v.narrow(channel[k], lo, min(per, shape.dim - lo))
            part[k] = v.double() if v is not None else None
        out, g = forward_backward(fn, part, shape.model_like, dout.narrow(1, lo, min(per, shape.dim - lo)).double())
        outs.append(out.float().cpu())
        for k, v in g.items():
            grads.setdefault(k, []).append(v.float().cpu())
    merged = {k: (torch.stack(v).sum(0) if k in ("B", "C") else torch.cat(v, channel[k])) for k, v in grads.items()}
    return torch.cat(outs, 1), merged


def gate(fn: Callable, shape: Shape, inputs: dict, dout: torch.Tensor, want) -> dict:
    """Relative errors of one peer's output and gradients against the trusted result; ``passed`` per GATE_TOL."""
    out, grads = forward_backward(fn, inputs, shape.model_like, dout)
    _, want_out, want_grads = want
    errs = {"out": rel_err(out, want_out)}
    errs.update({f"d{k}": rel_err(g, want_grads[k]) for k, g in grads.items()})
    worst_grad = max(v for k, v in errs.items() if k != "out")
    passed = errs["out"] <= GATE_TOL["out"] and worst_grad <= GATE_TOL["grad"]
    return {"passed": passed, "trusted": want[0], "rel_err": errs, "tolerance": GATE_TOL}


def timed(call: Callable, cuda: bool, warmup: int, target_s: float, max_reps: int) -> dict:
    """Median milliseconds of ``call`` after ``warmup`` calls; repeats fill about ``target_s`` (3 at least)."""
    for _ in range(warmup):
        call()
    times = []
    while len(times) < max_reps and (len(times) < 3 or sum(times) < target_s * 1e3):
        if cuda:
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            call()
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop))
        else:
            t0 = time.perf_counter()
            call()
            times.append((time.perf_counter() - t0) * 1e3)
        if max_reps == 1:
            break
    return {"median_ms": statistics.median(times), "min_ms": min(times), "reps": len(times), "warmup": warmup}
