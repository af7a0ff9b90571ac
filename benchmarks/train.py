"""Pretraining throughput: optimizer steps/s and tokens/s of the real training step (forward, weighted loss,
backward, AdamW with clipping) for model configs x context lengths, batch 1, one process.

    python benchmarks/train.py --configs tiny small --lengths 4096 65536 1048576 --steps 2
    python benchmarks/train.py --device cuda          # GPU figures (bf16 autocast)

Each point runs in a fresh subprocess (clean peak-memory numbers, a hard time limit per point) and the results go to
benchmarks/results/train_<device>.json. Points that exceed ``--point-timeout-s`` are recorded as timed out, never
dropped. The first (warm-up) step is timed separately; from 262,144 bases on there is no warm-up step (a step takes
minutes there and its start-up costs vanish in it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(config: str, length: int, steps: int, device: str, threads: int, model: list[str] = ()) -> dict:
    from genomamba.threads import prepare_process

    prepare_process(reuse_memory=False)  # as the CLI does, before torch loads
    import torch

    from genomamba.config import apply_overrides, to_dict
    from genomamba.model import ModelConfig
    from genomamba.optim import OptimConfig, build_optimizer
    from genomamba.pretrain.module import PretrainModule
    from genomamba.threads import apply_threads

    apply_threads(threads)
    torch.manual_seed(0)
    model_cfg = ModelConfig.from_preset(config, apply_overrides({}, list(model)))
    # activation checkpointing at long lengths, as the pretraining configs would set it
    model_cfg.checkpointing = model_cfg.checkpointing or length >= 65536
    module = PretrainModule(
        to_dict(model_cfg),
        {},
        {"seq_len": length, "tokens_per_micro_batch": length},
        max_steps=steps + 1,
    ).to(device)
    opt, sched = build_optimizer(module.model, OptimConfig(), steps + 1)
    ids = torch.randint(0, 4, (1, length), device=device)
    batch = {"input_ids": ids, "targets": ids, "weights": torch.ones(1, length, device=device)}

    def step() -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda"):
            logp = module.nucleotide_log_probs(batch["input_ids"])
            loss = -logp.gather(-1, batch["targets"].unsqueeze(-1)).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    # one untimed warm-up step at short lengths; at >= 256k a step takes minutes and its start-up costs vanish in it
    warmup = 0 if length >= 262144 else 1
    first = step() if warmup else None
    times = [step() for _ in range(steps)]
    mean = sum(times) / len(times)
    out = {
        "config": config,
        "length": length,
        "params": sum(p.numel() for p in module.parameters()),
        "checkpointing": model_cfg.checkpointing,
        "warmup_steps": warmup,
        "first_step_s": first,
        "step_s": times,
        "tokens_per_s": length / mean,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }
    if device == "cuda":
        out["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=["tiny", "small"])
    p.add_argument("--lengths", nargs="+", type=int, default=[4096, 65536, 1048576])
    p.add_argument("--steps", type=int, default=2, help="timed steps per point (after one warm-up step below 256k)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", nargs="*", default=[], metavar="KEY=VALUE", help="ModelConfig overrides for every point")
    p.add_argument("--point-timeout-s", type=float, default=600)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--note", default="", help="free text stored in the JSON (e.g. what else ran on the machine)")
    p.add_argument("--worker", nargs=2, metavar=("CONFIG", "LENGTH"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        res = worker(args.worker[0], int(args.worker[1]), args.steps, args.device, args.threads, args.model)
        print("RESULT " + json.dumps(res))
        return
    results = []
    load_start = os.getloadavg()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for config in args.configs:
        for length in args.lengths:
            cmd = [sys.executable, __file__, "--worker", config, str(length), "--steps", str(args.steps)]
            cmd += ["--device", args.device, "--threads", str(args.threads), "--model", *args.model]
            t0 = time.perf_counter()
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.point_timeout_s, env=env)
                lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
                if lines:
                    res = json.loads(lines[-1][7:])
                else:
                    res = {"config": config, "length": length, "error": r.stderr.strip().splitlines()[-1:]}
            except subprocess.TimeoutExpired:
                res = {"config": config, "length": length, "timed_out_s": args.point_timeout_s}
            res["wall_s"] = time.perf_counter() - t0
            results.append(res)
            print(json.dumps(res), flush=True)
    load = os.getloadavg()
    doc = {
        "benchmark": "pretraining step throughput (batch 1, fwd+bwd+AdamW)",
        "device": args.device,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg_at_start": load_start,
            "loadavg_at_end": load,
        },
        "threads": args.threads,
        "model_overrides": args.model,
        "note": args.note,
        "results": results,
    }
    out = args.out or ROOT / "benchmarks" / "results" / f"train_{args.device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
