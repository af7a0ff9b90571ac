"""Where a CPU training step spends its time: torch.profiler over real pretraining steps (forward, weighted
loss, backward, grad clipping, AdamW), the top ops by self CPU time, per model config x length.

    python benchmarks/profile_train.py --label after                       # tiny, small x 4k, 64k
    python benchmarks/profile_train.py --label before --src /tmp/base      # the same from another checkout
    python benchmarks/profile_train.py --label after --lengths 4096 65536 1048576 --model cpu_autocast=bf16

Each (config, length) runs in a fresh subprocess with the chosen source tree first on the path (its
``genomamba`` and its ``kernels/`` as ``genomamba_kernels``): one warm-up step (none from 256k on), one timed
step without the profiler, then ``--steps`` profiled steps. Results go to one JSON
(default benchmarks/results/profile_train.json) under ``runs[<label>]``; other labels already in the file are
kept, so ``before`` and ``after`` end up side by side. Each run records the machine (CPU model, avx512_bf16 /
AMX, cores), the load average at start and end, torch version, threads and the source commit.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "profile_train.json"
# autograd Functions of the CPU scans (Mamba-1 selective scan, Mamba-2 SSD); their "...Backward" nodes count too
SCAN_FUNCTIONS = ("_CpuSelectiveScan", "_CpuSSD")


# ------------------------------------------------------------------------------------- shared with the others


def source_env(src: Path, extra: dict | None = None) -> dict:
    """Environment for a worker that imports ``genomamba`` and ``genomamba_kernels`` from the tree ``src``
    (an editable install elsewhere would otherwise provide ``genomamba_kernels``)."""
    shim = Path(tempfile.mkdtemp(prefix="genomamba-src-"))
    atexit.register(shutil.rmtree, shim, ignore_errors=True)
    (shim / "genomamba_kernels").symlink_to(Path(src).resolve() / "kernels")
    path = os.pathsep.join([str(Path(src).resolve()), str(shim)])
    return {**os.environ, "PYTHONPATH": path, **(extra or {})}


def git_commit(src: Path) -> str | None:
    r = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "-uno"], capture_output=True, text=True)
    return (r.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")) if r.returncode == 0 else None


def machine_record() -> dict:
    sys.path.insert(0, str(ROOT))
    from genomamba.threads import machine_info

    return {**machine_info(), "loadavg": list(os.getloadavg())}


def model_overrides(items: list[str]) -> dict:
    """``KEY=VALUE`` ModelConfig overrides, values parsed as YAML scalars (as the CLI's key=value overrides)."""
    from genomamba.config import apply_overrides

    return apply_overrides({}, list(items))


def run_worker(cmd: list[str], env: dict, timeout_s: float) -> dict:
    """Run a worker that prints ``RESULT <json>``; a timeout or crash becomes a result, never an exception."""
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
        if lines:
            res = json.loads(lines[-1][7:])
        elif r.returncode in (-9, 137):
            res = {"status": "killed (out of memory?)", "returncode": r.returncode}
        else:
            res = {"status": "error", "returncode": r.returncode, "stderr_tail": r.stderr.strip().splitlines()[-5:]}
    except subprocess.TimeoutExpired:
        res = {"status": "timeout", "timeout_s": timeout_s}
    res["wall_s"] = round(time.perf_counter() - t0, 2)
    return res


def update_json(path: Path, key: str, label: str, value: dict, header: dict) -> None:
    """Set ``doc[key][label] = value`` in the JSON at ``path`` (other labels kept), atomically."""
    doc = json.loads(path.read_text()) if path.exists() else {}
    doc.update({k: v for k, v in header.items() if k not in doc})
    doc.setdefault(key, {})[label] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------------ worker


def build_step(config: str, length: int, overrides: dict, batch: int = 1):
    """A pretraining step as the trainer runs it, on random tokens; returns (step, module)."""
    import torch

    from genomamba.model import ModelConfig
    from genomamba.optim import OptimConfig, build_optimizer
    from genomamba.pretrain.module import PretrainModule

    torch.manual_seed(0)
    cfg = ModelConfig.from_preset(config, overrides)
    cfg.checkpointing = cfg.checkpointing or length >= 65536  # as the long-window pretraining configs set it
    module = PretrainModule(cfg.__dict__, {}, {"seq_len": length, "tokens_per_micro_batch": length}, max_steps=10**6)
    opt, sched = build_optimizer(module.model, OptimConfig(), 10**6)
    ids = torch.randint(0, 4, (batch, length))
    weights = torch.ones(batch, length)

    def step() -> float:
        logp = module.nucleotide_log_probs(ids)
        nll = -logp.gather(-1, ids.unsqueeze(-1)).squeeze(-1)
        loss = (nll * weights).sum() / weights.sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        return float(loss)

    return step, module


def apply_worker_threads(threads: str) -> dict:
    import torch

    try:  # trees without genomamba.threads (e.g. a checkout from before it existed)
        from genomamba.threads import apply_threads, pick_threads

        return apply_threads(pick_threads(threads))
    except ImportError:
        torch.set_num_threads(os.cpu_count() if threads == "auto" else int(threads))
        return {"threads": torch.get_num_threads(), "note": "this tree has no genomamba.threads"}


def worker(args) -> dict:
    if args.omp_wait_policy == "passive":
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:  # what the pretrain CLI does before torch loads (trees that have genomamba.threads)
        from genomamba.threads import prepare_process

        prepare_process(reuse_memory=args.reuse_memory)
    except ImportError:
        pass
    import torch
    from torch.profiler import ProfilerActivity, profile

    settings = apply_worker_threads(args.threads)
    overrides = model_overrides(args.model)
    step, module = build_step(args.config, args.length, overrides)
    first = None
    if args.length < 262144:
        t = time.perf_counter()
        step()
        first = time.perf_counter() - t
    t = time.perf_counter()
    step()
    step_s = time.perf_counter() - t
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[: args.top]
    ops = [
        {
            "name": e.key,
            "self_cpu_ms": round(e.self_cpu_time_total / 1e3 / args.steps, 3),
            "pct": round(100 * e.self_cpu_time_total / total, 2),
            "calls": e.count // args.steps,
        }
        for e in top
    ]
    # the scan ops' inclusive time (forward, recomputation, backward): what a faster scan could save at most
    scan = [e for e in events if e.key.removesuffix("Backward") in SCAN_FUNCTIONS]
    scan_ms = sum(e.cpu_time_total for e in scan) / 1e3 / args.steps
    return {
        "config": args.config,
        "length": args.length,
        "model_overrides": overrides,
        "checkpointing": module.model.config.checkpointing,
        # whether this batch was actually recomputed (trees with checkpoint_budget_gib; else the flag)
        "checkpointed": getattr(module.model.config, "checkpoint_batch", lambda t: module.model.config.checkpointing)(
            args.length
        ),
        "params": module.model.num_parameters(),
        "thread_settings": settings,
        "torch_threads": torch.get_num_threads(),
        "first_step_s": first,
        "step_s": step_s,
        "tokens_per_s": args.length / step_s,
        "profiled_steps": args.steps,
        "self_cpu_total_ms_per_step": round(total / 1e3 / args.steps, 2),
        "top_ops": ops,
        "scan_cpu_ms_per_step": round(scan_ms, 2),
        "scan_share": round(scan_ms * 1e3 * args.steps / total, 4),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


# ------------------------------------------------------------------------------------------------ driver


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--label", default="after", help="name of this run in the JSON, e.g. before | after")
    p.add_argument("--configs", nargs="+", default=["tiny", "small"])
    p.add_argument("--lengths", nargs="+", type=int, default=[4096, 65536])
    p.add_argument("--threads", default="2", help="an integer or auto (genomamba.threads.pick_threads)")
    p.add_argument("--omp-wait-policy", choices=["passive", "default"], default="passive")
    p.add_argument("--model", nargs="*", default=[], metavar="KEY=VALUE", help="ModelConfig overrides")
    p.add_argument("--no-reuse-memory", dest="reuse_memory", action="store_false",
                   help="leave glibc's malloc as it is (default: genomamba.threads.reuse_freed_memory)")  # fmt: skip
    p.add_argument("--steps", type=int, default=1, help="profiled steps per point")
    p.add_argument("--top", type=int, default=30, help="ops kept per point")
    p.add_argument("--src", type=Path, default=ROOT, help="source tree to profile (default: this checkout)")
    p.add_argument("--point-timeout-s", type=float, default=1800)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--note", default="")
    p.add_argument("--worker", nargs=2, metavar=("CONFIG", "LENGTH"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        args.config, args.length = args.worker[0], int(args.worker[1])
        print("RESULT " + json.dumps(worker(args)), flush=True)
        return
    start = machine_record()
    env = source_env(args.src)
    points = []
    for config in args.configs:
        for length in args.lengths:
            cmd = [sys.executable, __file__, "--worker", config, str(length), "--threads", args.threads]
            cmd += ["--omp-wait-policy", args.omp_wait_policy, "--steps", str(args.steps), "--top", str(args.top)]
            cmd += ["--model", *args.model] if args.model else []
            cmd += [] if args.reuse_memory else ["--no-reuse-memory"]
            res = {"config": config, "length": length, **run_worker(cmd, env, args.point_timeout_s)}
            points.append(res)
            head = {k: res.get(k) for k in ("config", "length", "tokens_per_s", "status", "wall_s")}
            print(json.dumps(head), flush=True)
    run = {
        "src": str(args.src.resolve()),
        "commit": git_commit(args.src),
        "threads": args.threads,
        "omp_wait_policy": args.omp_wait_policy,
        "reuse_freed_memory": args.reuse_memory,
        "model_overrides": args.model,
        "machine": start,
        "loadavg_at_start": start["loadavg"],
        "loadavg_at_end": list(os.getloadavg()),
        "note": args.note,
        "points": points,
    }
    header = {"benchmark": "torch.profiler op breakdown of pretraining steps (batch 1, fwd+bwd+clip+AdamW)"}
    update_json(args.out, "runs", args.label, run, header)
    print(f"wrote {args.out} (runs.{args.label})")


if __name__ == "__main__":
    main()
