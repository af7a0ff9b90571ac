"""Model throughput and memory vs sequence length: genomamba (linear-time scan) vs an SDPA Transformer.

For each model config (tiny, small), length L and mode (inference = forward under no_grad; train = forward +
backward of the all-position cross-entropy, per-block activation checkpointing on for both architectures), one
subprocess builds the model, runs it on one random window of L bases and reports bases/s and peak resident
memory. Each subprocess runs under an address-space limit and a wall-clock limit, so running out of memory or
time is recorded as a result, not a crash. The attention baseline stops at the first length it cannot run.

    python benchmarks/model.py                        # full run: tiny+small, L = 4k, 64k, 256k, 1M
    python benchmarks/model.py --configs tiny --lengths 1024,4096 --out /tmp/quick.json

Writes JSON (default benchmarks/results/model.json) and prints a Markdown table.
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

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_LENGTHS = "4096,65536,262144,1048576"


# ---------------------------------------------------------------------------------------------- worker side
def _attention_model(config):
    """Pre-norm Transformer encoder, same width and depth (SDPA attention + 4x GELU MLP), tied LM head."""
    import torch
    import torch.nn.functional as F
    from torch import nn
    from torch.utils.checkpoint import checkpoint

    d, n_heads = config.d_model, max(1, config.d_model // 64)

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(self, x):  # (B, L, d)
            B, L, _ = x.shape
            q, k, v = self.qkv(self.norm1(x)).view(B, L, 3, n_heads, d // n_heads).permute(2, 0, 3, 1, 4)
            att = F.scaled_dot_product_attention(q, k, v)  # (B, H, L, hd), bidirectional
            x = x + self.proj(att.transpose(1, 2).reshape(B, L, d))
            return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(config.padded_vocab_size, d)
            self.layers = nn.ModuleList(Layer() for _ in range(config.n_layer))
            self.norm_f = nn.LayerNorm(d)
            self.checkpointing = False

        def forward(self, ids):
            x = self.embedding(ids)
            for layer in self.layers:
                use = self.checkpointing and torch.is_grad_enabled()
                x = checkpoint(layer, x, use_reentrant=False) if use else layer(x)
            return F.linear(self.norm_f(x), self.embedding.weight)[..., : config.vocab_size]

    return Encoder()


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def _current_rss_gb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


def worker(args) -> None:
    import torch

    from genomamba.config import load_config
    from genomamba.model import GenomambaModel, ModelConfig

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = load_config(ModelConfig, ROOT / "configs" / "model" / f"{args.config}.yaml")
    config.backend = args.backend
    config.checkpointing = args.mode == "train"
    if args.arch == "mamba":
        model = GenomambaModel(config)
        n_params = model.num_parameters()
    else:
        model = _attention_model(config)
        model.checkpointing = args.mode == "train"
        n_params = sum(p.numel() for p in model.parameters())
    model.train(args.mode == "train")
    ids = torch.randint(0, 4, (1, args.length))
    rss_before = _current_rss_gb()

    def step(ids):
        if args.mode == "infer":
            with torch.no_grad():
                model(ids)
        else:
            model.zero_grad(set_to_none=True)
            logits = model(ids)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids.reshape(-1))
            loss.backward()

    step(ids[:, :1024])  # warm-up on a short window: one-time costs (kernel load, allocator) stay out of timings
    times = []
    deadline = time.perf_counter() + args.repeat_budget_s
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        step(ids)
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > deadline:
            break
    best = min(times)
    print(
        "RESULT "
        + json.dumps(
            {
                "status": "ok",
                "seconds": best,
                "seconds_all": times,
                "bases_per_s": args.length / best,
                "peak_rss_gb": _peak_rss_gb(),
                "rss_before_gb": rss_before,
                "params": n_params,
            }
        ),
        flush=True,
    )


# ---------------------------------------------------------------------------------------------- parent side
def run_one(arch, config, length, mode, args) -> dict:
    cmd = [
        sys.executable, __file__, "--worker", "--arch", arch, "--config", config, "--length", str(length),
        "--mode", mode, "--threads", str(args.threads), "--backend", args.backend,
        "--repeats", str(args.repeats), "--repeat-budget-s", str(args.repeat_budget_s),
    ]  # fmt: skip
    limit = int(args.mem_limit_gb * 2**30)

    def limit_memory():  # address-space cap: an allocation beyond it fails inside the child (recorded as OOM)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    time_limit = args.time_limit_s if arch == "mamba" else args.attention_time_limit_s
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=time_limit, preexec_fn=limit_memory, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "limit_s": time_limit}
    wall = time.perf_counter() - t0
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return {**json.loads(line[7:]), "wall_s": wall}
    err = proc.stderr.strip().splitlines()
    tail = " | ".join(err[-3:])
    oom = any(s in proc.stderr for s in ("can't allocate memory", "MemoryError", "out of memory", "std::bad_alloc"))
    return {
        "status": "oom" if oom or proc.returncode == -9 else "error",
        "returncode": proc.returncode,
        "error": tail,
    }


def scaling_exponent(rows: list[dict]) -> float | None:
    """Least-squares slope of log(seconds) vs log(length) over the successful rows."""
    pts = [(math.log(r["length"]), math.log(r["seconds"])) for r in rows if r.get("status") == "ok"]
    if len(pts) < 2:
        return None
    mx, my = sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="tiny,small")
    parser.add_argument("--lengths", default=DEFAULT_LENGTHS)
    parser.add_argument("--modes", default="infer,train")
    parser.add_argument("--archs", default="mamba,attention")
    parser.add_argument("--backend", default="cpu", help="selective-scan backend for genomamba (default cpu)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per point (best is kept)")
    parser.add_argument("--repeat-budget-s", type=float, default=20.0, help="stop repeating after this long")
    parser.add_argument("--mem-limit-gb", type=float, default=20.0)
    parser.add_argument("--note", default="", help="free text for the JSON (what else ran; each row has its load)")
    parser.add_argument("--time-limit-s", type=float, default=2400.0, help="per point, genomamba")
    parser.add_argument("--attention-time-limit-s", type=float, default=600.0, help="per point, attention")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "model.json"))
    parser.add_argument(
        "--merge", nargs="+", metavar="JSON", help="combine the rows of earlier runs' JSON files into --out"
    )
    # worker-only arguments
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--arch", default="mamba", help=argparse.SUPPRESS)
    parser.add_argument("--config", default="tiny", help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, default=4096, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="infer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    if args.merge:
        return merge(args)
    lengths = sorted(int(x) for x in args.lengths.split(","))
    rows: list[dict] = []
    for config in args.configs.split(","):
        for mode in args.modes.split(","):
            for arch in args.archs.split(","):
                for length in lengths:
                    load_before = os.getloadavg()[0]
                    res = run_one(arch, config, length, mode, args)
                    row = {"config": config, "mode": mode, "arch": arch, "length": length, **res}
                    # 1-minute load average before/after: other jobs on a shared machine slow every row
                    row["loadavg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    write_result(rows, args)  # after every point: an interrupted run keeps what it measured
                    if res["status"] != "ok":
                        break  # longer lengths cannot fit either; record where it stopped
    print(markdown(rows, summarise(rows)))
    print(f"wrote {args.out}")


def merge(args) -> None:
    """Rows of several runs (e.g. configs measured in parallel processes) in one JSON; the first run of a
    (config, mode, arch, length) point wins."""
    rows, seen = [], set()
    for path in args.merge:
        for row in json.loads(Path(path).read_text())["rows"]:
            key = (row["config"], row["mode"], row["arch"], row["length"])
            if key not in seen:
                seen.add(key)
                rows.append({**row, "run": Path(path).name})
    order = {"small": 0, "tiny": 1}
    rows.sort(key=lambda r: (order.get(r["config"], 9), r["mode"], r["arch"] != "mamba", r["length"]))
    write_result(rows, args)
    print(markdown(rows, summarise(rows)))
    print(f"wrote {args.out}")


def write_result(rows: list[dict], args) -> None:
    import torch

    result = {
        "benchmark": "model",
        "machine": {
            "cpu": _cpu_name(),
            "cores_used": args.threads,
            "os_cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "note": args.note,
        },
        "settings": {
            k: getattr(args, k)
            for k in ("backend", "threads", "repeats", "mem_limit_gb", "time_limit_s", "attention_time_limit_s")
        },
        "rows": rows,
        "summary": summarise(rows),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, out)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def summarise(rows: list[dict]) -> dict:
    summary = {}
    for config in sorted({r["config"] for r in rows}):
        for mode in sorted({r["mode"] for r in rows}):
            sel = {a: [r for r in rows if (r["config"], r["mode"], r["arch"]) == (config, mode, a)] for a in
                   ("mamba", "attention")}  # fmt: skip
            ok = {a: {r["length"]: r for r in sel[a] if r["status"] == "ok"} for a in sel}
            both = sorted(set(ok["mamba"]) & set(ok["attention"]))
            failed = [r for r in sel["attention"] if r["status"] != "ok"]
            entry = {
                "mamba_scaling_exponent": scaling_exponent(sel["mamba"]),
                "attention_scaling_exponent": scaling_exponent(sel["attention"]),
                "mamba_longest_ok": max(ok["mamba"], default=None),
                "attention_longest_ok": max(ok["attention"], default=None),
                "attention_stops_at": failed[0]["length"] if failed else None,
                "attention_stop_reason": failed[0]["status"] if failed else None,
            }
            if both:
                L = both[-1]
                entry["longest_common_length"] = L
                entry["speedup_at_longest_common"] = ok["attention"][L]["seconds"] / ok["mamba"][L]["seconds"]
                entry["memory_ratio_at_longest_common"] = (
                    ok["attention"][L]["peak_rss_gb"] / ok["mamba"][L]["peak_rss_gb"]
                )
            summary[f"{config}/{mode}"] = entry
    return summary


def markdown(rows: list[dict], summary: dict) -> str:
    lines = [
        "| config | mode | arch | length | status | bases/s | seconds | peak RSS GiB |",
        "|---|---|---|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        ok = r["status"] == "ok"
        lines.append(
            f"| {r['config']} | {r['mode']} | {r['arch']} | {r['length']:,} | {r['status']} | "
            + (f"{r['bases_per_s']:,.0f} | {r['seconds']:.2f} | {r['peak_rss_gb']:.2f} |" if ok else "- | - | - |")
        )
    lines += [
        "",
        "| config/mode | mamba exponent | attention exponent | attention stops at | "
        "attn/mamba time at longest common L |",
        "|---|---:|---:|---|---|",
    ]
    for key, s in summary.items():
        fmt = lambda v: "-" if v is None else f"{v:.2f}"
        stop = f"{s['attention_stops_at']:,} ({s['attention_stop_reason']})" if s["attention_stops_at"] else "-"
        ratio = (
            f"{s['speedup_at_longest_common']:.2f}x at {s['longest_common_length']:,}"
            if "longest_common_length" in s
            else "-"
        )
        lines.append(
            f"| {key} | {fmt(s['mamba_scaling_exponent'])} | {fmt(s['attention_scaling_exponent'])} | "
            f"{stop} | {ratio} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
