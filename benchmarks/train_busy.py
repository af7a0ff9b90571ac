"""Training beside a competing CPU-bound process: does the default (auto) thread choice hold up?

    python benchmarks/train_busy.py                                  # tiny, 4k, one competitor
    python benchmarks/train_busy.py --competitors 2 --model cpu_autocast=bf16

Phases, each a fresh worker process running a warm-up step and then ``--steps`` timed pretraining steps
(fwd + loss + bwd + clip + AdamW, batch 1, random tokens), median reported:

  quiet_auto      no competitor; threads as the pretrain CLI picks them (OMP_WAIT_POLICY=PASSIVE, "auto")
  quiet_1         no competitor; 1 thread
  quiet_2_spin    no competitor; 2 threads, OpenMP's default wait policy (spinning): the cost of PASSIVE
  quiet_2_hybrid  no competitor; torch's ops on 1 thread, the C++ scan/conv kernels on 2 (PASSIVE)
  busy_auto       beside the competitors; auto threads, PASSIVE                      <- the default
  busy_1          beside the competitors; 1 thread                                   <- the bar to reach
  busy_2_passive  beside the competitors; 2 threads, PASSIVE
  busy_2_hybrid   beside the competitors; torch's ops on 1 thread, the kernels on 2 (PASSIVE)
  busy_2_spin     beside the competitors; 2 threads, default policy (the collapse; time-limited)

The benchmark starts the competitors itself (``python -c "while True: pass"``, one per ``--competitors``),
kills them when the busy phases end (also on error), and writes benchmarks/results/train_busy.json with the
tokens/s of every phase and the ratio busy_auto / busy_1 (>= 1 is the target). A phase that exceeds
``--phase-timeout-s`` is recorded as timed out.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from profile_train import (  # noqa: E402
    ROOT,
    build_step,
    git_commit,
    machine_record,
    model_overrides,
    run_worker,
    source_env,
)

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "train_busy.json"
PHASES = {  # name: (competitors on, threads, OpenMP wait policy)
    "quiet_auto": (False, "auto", "passive"),
    "quiet_1": (False, "1", "passive"),
    "quiet_2_spin": (False, "2", "default"),
    "quiet_2_hybrid": (False, "2h", "passive"),
    "busy_auto": (True, "auto", "passive"),
    "busy_1": (True, "1", "passive"),
    "busy_2_passive": (True, "2", "passive"),
    "busy_2_hybrid": (True, "2h", "passive"),
    "busy_2_spin": (True, "2", "default"),
}


def worker(args) -> dict:
    env_policy = os.environ.get("OMP_WAIT_POLICY")
    from genomamba.threads import apply_threads, pick_threads, prepare_process, reuse_freed_memory

    if args.policy == "passive":
        prepare_process()  # before torch is imported: PASSIVE policy and freed memory kept for reuse
    else:
        reuse_freed_memory()

    hybrid = args.threads.endswith("h")  # "2h": kernels on 2 threads, torch's ops on 1
    settings = apply_threads(pick_threads(args.threads.rstrip("h")), torch_threads=1 if hybrid else None)
    settings["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY", env_policy or "default")
    step, _ = build_step(args.config, args.length, model_overrides(args.model))
    t = time.perf_counter()
    step()
    warmup = time.perf_counter() - t
    times = []
    deadline = time.perf_counter() + args.max_timed_s
    for _ in range(args.steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
        if time.perf_counter() > deadline:
            break
    med = statistics.median(times)
    return {"thread_settings": settings, "warmup_s": warmup, "step_s": times, "median_step_s": med,
            "tokens_per_s": args.length / med}  # fmt: skip


def start_competitors(n: int, limit_s: float) -> list[subprocess.Popen]:
    """n busy loops, each its own process group, each ending by itself after ``limit_s`` at the latest."""
    code = f"import time\nend = time.monotonic() + {limit_s}\nwhile time.monotonic() < end: pass"
    return [subprocess.Popen([sys.executable, "-c", code], start_new_session=True) for _ in range(n)]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="tiny")
    p.add_argument("--length", type=int, default=4096)
    p.add_argument("--steps", type=int, default=10, help="timed steps per phase (after one warm-up step)")
    p.add_argument("--max-timed-s", type=float, default=120, help="stop timing a phase after this many seconds")
    p.add_argument("--competitors", type=int, default=1)
    p.add_argument("--phases", nargs="+", default=list(PHASES), choices=list(PHASES))
    p.add_argument("--model", nargs="*", default=[], metavar="KEY=VALUE", help="ModelConfig overrides")
    p.add_argument("--phase-timeout-s", type=float, default=300)
    p.add_argument("--src", type=Path, default=ROOT)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--note", default="")
    p.add_argument("--worker", nargs=2, metavar=("THREADS", "POLICY"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        args.threads, args.policy = args.worker
        print("RESULT " + json.dumps(worker(args)), flush=True)
        return
    start = machine_record()
    results, competitors = {}, []
    budget = args.phase_timeout_s * len(args.phases) + 60
    try:
        for name in args.phases:
            busy, threads, policy = PHASES[name]
            if busy and not competitors:
                competitors = start_competitors(args.competitors, budget)
                time.sleep(1.0)  # let them show up in /proc/stat
            if not busy and competitors:
                stop(competitors)
                competitors = []
            env = source_env(args.src)
            env.pop("OMP_WAIT_POLICY", None)
            env.pop("OMP_NUM_THREADS", None)
            cmd = [sys.executable, __file__, "--worker", threads, policy, "--config", args.config]
            cmd += ["--length", str(args.length), "--steps", str(args.steps), "--max-timed-s", str(args.max_timed_s)]
            cmd += ["--model", *args.model] if args.model else []
            results[name] = {"competitors": args.competitors if busy else 0, "threads": threads, "policy": policy,
                             **run_worker(cmd, env, args.phase_timeout_s)}  # fmt: skip
            print(name, json.dumps({k: results[name].get(k) for k in ("tokens_per_s", "status", "wall_s")}), flush=True)
    finally:
        stop(competitors)
    tps = {k: v.get("tokens_per_s") for k, v in results.items()}
    ratios = {}
    if tps.get("busy_auto") and tps.get("busy_1"):
        ratios["busy_auto_over_busy_1"] = tps["busy_auto"] / tps["busy_1"]
    if tps.get("busy_2_spin") and tps.get("busy_1"):
        ratios["busy_2_spin_over_busy_1"] = tps["busy_2_spin"] / tps["busy_1"]
    if tps.get("quiet_auto") and tps.get("quiet_2_spin"):
        ratios["quiet_auto_over_quiet_2_spin"] = tps["quiet_auto"] / tps["quiet_2_spin"]
    doc = {
        "benchmark": "pretraining steps beside competing CPU-bound processes (batch 1, fwd+bwd+clip+AdamW)",
        "config": args.config,
        "length": args.length,
        "model_overrides": args.model,
        "competitors": args.competitors,
        "src": str(args.src.resolve()),
        "commit": git_commit(args.src),
        "machine": start,
        "loadavg_at_start": start["loadavg"],
        "loadavg_at_end": list(os.getloadavg()),
        "note": args.note,
        "tokens_per_s": tps,
        "ratios": ratios,
        "phases": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: {json.dumps(ratios)}")


if __name__ == "__main__":
    main()
