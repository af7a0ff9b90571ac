"""Selective-scan benchmark: genomamba's fused kernels against peers, side by side, one JSON per run.

Workload (issue 3): batch 1, dim 256, state 16, fp32, delta = softplus(N(-4, 0.5)), A = -[1..16] per channel,
B, C ~ N(0, 1), with the D skip, no gate; y = selective_scan(u, delta, A, B, C, D). Forward runs under no_grad;
forward+backward is y.sum().backward() with gradients for u, delta, A, B, C, D.

Peers (each configuration in its own subprocess with a timeout and an address-space cap, so OOM and timeout are
recorded as results instead of taking the machine down):
* ``fused_cpu``: ``genomamba.ops.selective_scan(backend="cpu")`` (CPU tensors)
* ``naive_loop``: the sequential oracle ``genomamba_kernels.reference.selective_scan_loop`` (unbind loop)
* ``mambapy_pscan``: ``mambapy.pscan.pscan`` as ``mambapy.mamba.MambaBlock.selective_scan`` uses it
* ``fused_triton`` and ``mamba_ssm_cuda`` (mamba-ssm's ``selective_scan_fn``) on a CUDA device, when present

Every peer is first checked against the float64 oracle at length 1,024 (output, and every input gradient for
fwd+bwd); one that disagrees is recorded as ``wrong`` and not timed.

Metrics: best-of-reps seconds, tokens/s (= length / seconds, batch 1), peak RSS of the worker process (CPU) or
peak CUDA memory, the scaling exponent alpha (slope of log time against log length over 16k..1M) and ratios of
the fused path against each peer at every length where both ran. The machine, thread count and load average
(the CPU is shared) are recorded with the results.

Usage:
    python benchmarks/scan.py                 # full run -> benchmarks/results/scan.json
    python benchmarks/scan.py --quick         # 4k and 16k only, one rep, short timeouts (smoke test)
    python benchmarks/scan.py --peers fused_cpu --lengths 65536 --modes fwd
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

DIM, STATE = 256, 16
LENGTHS = (4096, 16384, 65536, 262144, 1048576)
QUICK_LENGTHS = (4096, 16384)
CPU_PEERS = ("fused_cpu", "naive_loop", "mambapy_pscan")
GPU_PEERS = ("fused_triton", "mamba_ssm_cuda")
MODES = ("fwd", "fwdbwd")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "scan.json"


# ------------------------------------------------------------------------------------------------ worker


def _inputs(length: int, device: str):
    import torch

    g = torch.Generator().manual_seed(0)
    u = torch.randn(1, DIM, length, generator=g)
    delta = torch.nn.functional.softplus(torch.randn(1, DIM, length, generator=g) * 0.5 - 4.0)
    A = -torch.arange(1, STATE + 1, dtype=torch.float32).repeat(DIM, 1)
    B = torch.randn(1, STATE, length, generator=g)
    C = torch.randn(1, STATE, length, generator=g)
    D = torch.ones(DIM)
    return [t.to(device) for t in (u, delta, A, B, C, D)]


def _peer_fn(peer: str):
    """A function (u, delta, A, B, C, D) -> y (batch, dim, length) for ``peer``."""
    if peer in ("fused_cpu", "fused_triton", "naive_loop"):
        from genomamba.ops import selective_scan

        backend = {"fused_cpu": "cpu", "fused_triton": "triton", "naive_loop": "ref"}[peer]
        return lambda u, dt, A, B, C, D: selective_scan(u, dt, A, B, C, D, backend=backend)
    if peer == "mambapy_pscan":
        from mambapy.pscan import pscan

        def mambapy_scan(u, dt, A, B, C, D):
            # mambapy's layout is (batch, length, channels); the transposes are views
            x, d = u.transpose(1, 2), dt.transpose(1, 2)
            Bl, Cl = B.transpose(1, 2), C.transpose(1, 2)
            deltaA = (d.unsqueeze(-1) * A).exp()  # (B, L, ED, N)
            BX = d.unsqueeze(-1) * Bl.unsqueeze(2) * x.unsqueeze(-1)
            hs = pscan(deltaA, BX)
            y = (hs @ Cl.unsqueeze(-1)).squeeze(3) + D * x
            return y.transpose(1, 2)

        return mambapy_scan
    if peer == "mamba_ssm_cuda":
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

        return lambda u, dt, A, B, C, D: selective_scan_fn(u, dt, A, B, C, D)
    raise ValueError(f"unknown peer {peer}")


GATE_LENGTH = 1024
GATE_TOL = {"out": 1e-4, "grad": 1e-3}  # relative L2 error of an fp32 peer against the float64 oracle


def gate(fn, mode: str, device: str) -> dict:
    """Correctness before timing (llm.c): the peer's output, and for ``fwdbwd`` every input gradient, on a
    GATE_LENGTH problem of the benchmark's kind against the float64 sequential oracle on the same inputs."""
    import torch
    from genomamba_kernels.reference import selective_scan_loop

    inputs = _inputs(GATE_LENGTH, device)
    dout = torch.randn(1, DIM, GATE_LENGTH, generator=torch.Generator().manual_seed(1)).to(device)

    def run(f, tensors):
        if mode == "fwd":
            with torch.no_grad():
                return f(*tensors), []
        leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
        out = f(*leaves)
        return out.detach(), list(torch.autograd.grad(out, leaves, dout.to(out.dtype)))

    got, got_grads = run(fn, inputs)
    want, want_grads = run(selective_scan_loop, [t.double() for t in inputs])
    rel = lambda a, b: float((a.double().cpu() - b.cpu()).norm() / b.norm()) if torch.isfinite(a).all() else math.inf
    errs = {"out": rel(got, want)}
    errs.update({f"d{n}": rel(g, w) for n, g, w in zip("u delta A B C D".split(), got_grads, want_grads)})
    grad_ok = all(v <= GATE_TOL["grad"] for k, v in errs.items() if k != "out")
    return {"passed": errs["out"] <= GATE_TOL["out"] and grad_ok, "length": GATE_LENGTH, "rel_err": errs}


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(peer: str, length: int, mode: str, reps: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    device = "cuda" if peer in GPU_PEERS else "cpu"
    fn = _peer_fn(peer)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def once(tensors):
        if mode == "fwd":
            with torch.no_grad():
                fn(*tensors)
        else:
            leaves = [t.requires_grad_(True) for t in tensors]
            fn(*leaves).sum().backward()
            for t in leaves:
                t.grad = None
        sync()

    checked = gate(fn, mode, device)  # also the warm-up: library build/load, Triton compile and autotune
    if not checked["passed"]:
        return {"status": "wrong", "gate": checked}
    once(_inputs(GATE_LENGTH, device))  # warm-up of the timed path itself (allocator, autograd)
    tensors = _inputs(length, device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        once(tensors)
        times.append(time.perf_counter() - t0)
    best = min(times)
    res = {
        "status": "ok",
        "seconds": best,
        "all_seconds": times,
        "tokens_per_s": length / best,
        "peak_rss_bytes": _peak_rss_bytes(),
        "gate": checked,
    }
    if device == "cuda":
        res["peak_cuda_bytes"] = torch.cuda.max_memory_allocated()
    return res


# ------------------------------------------------------------------------------------------- orchestrator


def machine_info() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "nproc": os.cpu_count()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            info["cpu"] = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), None)
        with open("/proc/meminfo", encoding="utf-8") as fh:
            info["mem_total_kib"] = int(next(ln.split()[1] for ln in fh if ln.startswith("MemTotal")))
    except OSError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda_device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return info


def _available(peer: str) -> str | None:
    """None if the peer can run here, else the reason it cannot."""
    import importlib.util

    import torch

    if peer in GPU_PEERS and not torch.cuda.is_available():
        return "needs a CUDA device"
    if peer == "mambapy_pscan" and importlib.util.find_spec("mambapy") is None:
        return "mambapy not installed (pip install mambapy==1.2.0)"
    if peer == "mamba_ssm_cuda" and importlib.util.find_spec("mamba_ssm") is None:
        return "mamba-ssm not installed"
    return None


def _reps(length: int, quick: bool) -> int:
    if quick:
        return 1
    return 3 if length <= 16384 else 2 if length <= 65536 else 1


def run_one(peer, length, mode, reps, threads, timeout, mem_cap_bytes) -> dict:
    cmd = [sys.executable, __file__, "--worker", peer, str(length), mode, str(reps), str(threads)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))

    def cap():  # address-space cap: a peer that needs more fails with an allocation error (recorded as OOM)
        if mem_cap_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (mem_cap_bytes, mem_cap_bytes))

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            preexec_fn=cap if peer not in GPU_PEERS else None,
        )
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "timeout_s": timeout, "loadavg_before": load_before}
    wall = time.perf_counter() - t0
    res: dict
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode == 0 and lines:
        res = json.loads(lines[-1])
    else:
        err = proc.stderr.strip().splitlines()
        tail = err[-1] if err else f"exit code {proc.returncode}"
        oom = proc.returncode in (-9, 137) or any(
            s in proc.stderr for s in ("can't allocate memory", "MemoryError", "out of memory", "std::bad_alloc")
        )
        res = {"status": "oom" if oom else "error", "error": tail[-500:], "returncode": proc.returncode}
    res.update(loadavg_before=load_before, loadavg_after=os.getloadavg(), process_wall_s=wall)
    return res


def alpha(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of log(seconds) against log(length)."""
    if len(points) < 2:
        return None
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else None


def summarise(results: list[dict], fused: str) -> dict:
    by = {(r["peer"], r["length"], r["mode"]): r for r in results}
    summary: dict = {"alpha_16k_1M": {}, "ratios": {}}
    peers = sorted({r["peer"] for r in results})
    for peer in peers:
        for mode in MODES:
            pts = [
                (r["length"], r["seconds"])
                for r in results
                if r["peer"] == peer and r["mode"] == mode and r["status"] == "ok" and 16384 <= r["length"] <= 1048576
            ]
            summary["alpha_16k_1M"][f"{peer}/{mode}"] = alpha(pts)
    for peer in peers:
        if peer == fused:
            continue
        for (p, length, mode), r in sorted(by.items()):
            if p != peer:
                continue
            mine = by.get((fused, length, mode))
            key = f"{fused}_vs_{peer}/{mode}/{length}"
            if mine and mine["status"] == "ok" and r["status"] == "ok":
                summary["ratios"][key] = r["seconds"] / mine["seconds"]
            elif mine and mine["status"] == "ok":
                summary["ratios"][key] = f"{peer} {r['status']}"
    return summary


def table(results: list[dict]) -> str:
    rows = [
        "| peer | length | mode | status | seconds | tokens/s | peak RSS GiB | load1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ok = r["status"] == "ok"
        rows.append(
            f"| {r['peer']} | {r['length']:,} | {r['mode']} | {r['status']} | "
            f"{r['seconds']:.3f} | {r['tokens_per_s']:,.0f} | {r['peak_rss_bytes'] / 2**30:.2f} | "
            f"{r['loadavg_before'][0]:.1f} |"
            if ok
            else f"| {r['peer']} | {r['length']:,} | {r['mode']} | {r['status']} | - | - | - | "
            f"{r.get('loadavg_before', [float('nan')])[0]:.1f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        peer, length, mode, reps, threads = argv[1], int(argv[2]), argv[3], int(argv[4]), int(argv[5])
        print(json.dumps(worker(peer, length, mode, reps, threads)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="4k and 16k, one rep, 120 s timeouts")
    ap.add_argument("--lengths", type=int, nargs="+")
    ap.add_argument("--peers", nargs="+", help=f"subset of {CPU_PEERS + GPU_PEERS}")
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--timeout", type=float, help="seconds per configuration (default 600, quick 120)")
    ap.add_argument(
        "--mem-cap-gib",
        type=float,
        default=12.0,
        help="address-space cap per CPU worker; beyond it a peer is recorded as OOM (0: none)",
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    lengths = args.lengths or (QUICK_LENGTHS if args.quick else LENGTHS)
    timeout = args.timeout or (120.0 if args.quick else 600.0)
    peers = args.peers or list(CPU_PEERS + GPU_PEERS)
    cap = int(args.mem_cap_gib * 2**30) if args.mem_cap_gib else 0
    results: list[dict] = []
    skipped: dict[str, str] = {}
    for peer in peers:
        why = _available(peer)
        if why:
            skipped[peer] = why
            print(f"skip {peer}: {why}", file=sys.stderr)
            continue
        for mode in args.modes:
            # after a timeout, longer lengths are not run (they would only time out later): recorded as
            # "not_run" with the reason; OOM is cheap to reproduce under the cap, so those lengths still run
            blocked = None
            for length in sorted(lengths):
                if blocked:
                    res = {"status": "not_run", "reason": f"timed out at length {blocked:,}"}
                else:
                    res = run_one(peer, length, mode, _reps(length, args.quick), args.threads, timeout, cap)
                res.update(peer=peer, length=length, mode=mode)
                results.append(res)
                shown = f"{res['tokens_per_s']:,.0f} tok/s" if res["status"] == "ok" else res["status"]
                print(f"{peer:15s} {mode:6s} L={length:>9,}  {shown}", file=sys.stderr, flush=True)
                if res["status"] == "timeout" and not blocked:
                    blocked = length
    fused = "fused_triton" if any(r["peer"] == "fused_triton" for r in results) else "fused_cpu"
    import torch

    doc = {
        "benchmark": "selective_scan",
        "workload": {
            "batch": 1,
            "dim": DIM,
            "state": STATE,
            "dtype": "float32",
            "delta": "softplus(N(-4, 0.5))",
            "A": "-[1..16] per channel",
            "D": "ones",
            "gate": None,
        },
        "machine": machine_info(),
        "threads": args.threads,
        "torch_threads_default": torch.get_num_threads(),
        "mem_cap_bytes_per_worker": cap,
        "timeout_s": timeout,
        "quick": args.quick,
        "started_loadavg": results[0].get("loadavg_before") if results else None,
        "skipped_peers": skipped,
        "results": results,
        "summary": summarise(results, fused),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, args.out)
    print(table(results))
    print(json.dumps(doc["summary"], indent=2))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
