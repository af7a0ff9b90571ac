"""Mixer-family benchmark: the SSD (Mamba-2) scan against the Mamba-1 scan, and models of each mixer pattern.

Section ``kernel`` (equal d_inner = 256, batch 1, fp32; forward under no_grad, forward+backward of out.sum()
with gradients for every input):
* ``ssd_cpu`` / ``ssd_cpu_bf16``: ``genomamba.ops.ssd(backend="cpu")``, 4 heads x 64, state 64, chunk 64,
  dt = softplus(N(-4, 0.5)), A = -[1..4], with the D skip; the bf16 variant takes bf16 matmul operands
* ``mamba1_cpu``: ``genomamba.ops.selective_scan(backend="cpu")``, dim 256, state 16 (the workload of scan.py)
* ``ssd_triton`` / ``mamba1_triton`` on a CUDA device, when present

Section ``model`` (batch 1, random bases, fp32 on CPU): for each preset (tiny, tiny_ssd, tiny_hybrid, small,
small_ssd, small_hybrid; about equal parameter counts per size, see configs/model), training tokens/s (forward,
all-position cross-entropy, backward, AdamW step; activation checkpointing as the preset says, and always from
64k on) and inference bases/s (forward under no_grad), with peak RSS. The peer ``hf_mamba2`` is transformers'
``Mamba2Model`` (its torch path) at the size of ``small_ssd``, one strand, with a tied LM head; it is recorded as
"not_installed" when transformers cannot be imported.

Each point runs in its own subprocess with a timeout and an address-space cap (OOM and timeouts are results).
Every row records the 1-minute load before and after; the document records the machine and threads.

    python benchmarks/ssd.py                               # everything -> benchmarks/results/ssd.json
    python benchmarks/ssd.py --section kernel --lengths 65536
    python benchmarks/ssd.py --smoke                       # seconds: tiny lengths, one rep (checks the script)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from scan import alpha, machine_info  # noqa: E402  (sibling script: machine description, scaling exponent)

LENGTHS = (4096, 65536, 1048576)
KERNEL_PEERS = ("ssd_cpu", "ssd_cpu_bf16", "mamba1_cpu", "ssd_triton", "mamba1_triton")
MODEL_PEERS = ("tiny", "tiny_ssd", "tiny_hybrid", "small", "small_ssd", "small_hybrid", "hf_mamba2")
HEADS, HEADDIM, SSD_STATE, DIM, M1_STATE = 4, 64, 64, 256, 16
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "ssd.json"


# ------------------------------------------------------------------------------------------------ workers


def _kernel_fn(peer: str, length: int, device: str):
    """(inputs, fn) for one kernel peer; fn(*inputs) -> output tensor."""
    import torch
    import torch.nn.functional as F

    from genomamba.ops import selective_scan, ssd

    g = torch.Generator().manual_seed(0)
    if peer.startswith("ssd"):
        x = torch.randn(1, length, HEADS, HEADDIM, generator=g)
        dt = F.softplus(torch.randn(1, length, HEADS, generator=g) * 0.5 - 4.0)
        A = -torch.arange(1, HEADS + 1, dtype=torch.float32)
        B, C = (torch.randn(1, length, 1, SSD_STATE, generator=g) for _ in range(2))
        inputs = [t.to(device) for t in (x, dt, A, B, C, torch.ones(HEADS))]
        backend, bf16 = ("triton" if device == "cuda" else "cpu"), peer.endswith("bf16")
        return inputs, lambda x, dt, A, B, C, D: ssd(x, dt, A, B, C, D, matmul_bf16=bf16, backend=backend)
    u = torch.randn(1, DIM, length, generator=g)
    delta = F.softplus(torch.randn(1, DIM, length, generator=g) * 0.5 - 4.0)
    A = -torch.arange(1, M1_STATE + 1, dtype=torch.float32).repeat(DIM, 1)
    B, C = (torch.randn(1, M1_STATE, length, generator=g) for _ in range(2))
    inputs = [t.to(device) for t in (u, delta, A, B, C, torch.ones(DIM))]
    backend = "triton" if device == "cuda" else "cpu"
    return inputs, lambda u, dt, A, B, C, D: selective_scan(u, dt, A, B, C, D, backend=backend)


def _hf_mamba2(length: int):
    """transformers' Mamba2Model at the size of small_ssd with a tied LM head: (model, step(ids) -> logits)."""
    from transformers import Mamba2Config, Mamba2Model

    from genomamba.model import ModelConfig

    ref = ModelConfig.from_preset("small_ssd")
    cfg = Mamba2Config(
        vocab_size=ref.padded_vocab_size, hidden_size=ref.d_model, num_hidden_layers=ref.n_layer,
        state_size=ref.ssd_d_state, expand=ref.expand, head_dim=ref.ssd_headdim, num_heads=ref.ssd_heads,
        n_groups=ref.ssd_ngroups, chunk_size=ref.ssd_chunk_size, conv_kernel=ref.d_conv,
    )  # fmt: skip
    model = Mamba2Model(cfg)
    head = model.get_input_embeddings()
    return model, lambda ids: model(input_ids=ids).last_hidden_state @ head.weight.T


def _model(peer: str, length: int):
    """(model, step(ids) -> logits, parameter count, checkpointing) for a genomamba preset or the HF peer."""
    if peer == "hf_mamba2":
        model, fn = _hf_mamba2(length)
        return model, fn, sum(p.numel() for p in model.parameters()), False
    from genomamba.model import GenomambaModel, ModelConfig

    config = ModelConfig.from_preset(peer)
    config.backend = "cpu"
    config.checkpointing = config.checkpointing or length >= 65536
    model = GenomambaModel(config)
    return model, model, model.num_parameters(), config.checkpointing


def worker(spec: dict) -> dict:
    import torch

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    device = "cuda" if spec["peer"].endswith("triton") else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    res: dict = {}
    if spec["section"] == "kernel":
        inputs, fn = _kernel_fn(spec["peer"], spec["length"], device)

        def once():
            if spec["mode"] == "fwd":
                with torch.no_grad():
                    fn(*inputs)
            else:
                leaves = [t.detach().requires_grad_(True) for t in inputs]
                fn(*leaves).sum().backward()

    else:
        try:
            model, fn, n_params, ckpt = _model(spec["peer"], spec["length"])
        except ImportError as exc:
            return {"status": "not_installed", "error": str(exc)[-300:]}
        res.update(params=n_params, checkpointing=ckpt)
        ids = torch.randint(0, 4, (1, spec["length"]))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

        def once():
            if spec["mode"] == "infer":
                model.eval()
                with torch.no_grad():
                    fn(ids)
                return
            model.train()
            logits = fn(ids)
            torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), ids.reshape(-1)).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

    t0 = time.perf_counter()
    once()  # warm-up: library builds, allocator, autotune
    sync()
    res["first_s"] = time.perf_counter() - t0
    times = [] if spec["reps"] else [res["first_s"]]  # reps 0: the first call is the measurement (1M points)
    for _ in range(spec["reps"]):
        t0 = time.perf_counter()
        once()
        sync()
        times.append(time.perf_counter() - t0)
    best = min(times)
    res.update(status="ok", seconds=best, all_seconds=times, tokens_per_s=spec["length"] / best)
    res["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if device == "cuda":
        res["peak_cuda_bytes"] = torch.cuda.max_memory_allocated()
    return res


# ------------------------------------------------------------------------------------------- orchestrator


def run_point(spec: dict, timeout: float, cap_bytes: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", json.dumps(spec)]
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, OMP_NUM_THREADS=str(spec["threads"]), PYTHONPATH=path)

    def cap():  # address-space cap: allocations beyond it fail inside the worker (recorded as OOM)
        if cap_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))

    gpu = spec["peer"].endswith("triton")
    load_before = os.getloadavg()[0]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              preexec_fn=None if gpu else cap)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "timeout_s": timeout, "load1": [load_before, os.getloadavg()[0]]}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode == 0 and lines:
        res = json.loads(lines[-1][7:])
    else:
        err = proc.stderr.strip().splitlines()
        oom = proc.returncode in (-9, 137) or any(
            s in proc.stderr for s in ("can't allocate memory", "MemoryError", "out of memory", "bad_alloc")
        )
        res = {"status": "oom" if oom else "error", "error": (err[-1] if err else "")[-500:]}
    res["load1"] = [load_before, os.getloadavg()[0]]
    return res


def _available(peer: str) -> str | None:
    import torch

    if peer.endswith("triton") and not torch.cuda.is_available():
        return "needs a CUDA device"
    return None


def baseline(peer: str) -> str | None:
    """The Mamba-1 row a peer is compared with: the Mamba-1 kernel, or the Mamba-1 preset of the same size."""
    kernels = {"ssd_cpu": "mamba1_cpu", "ssd_cpu_bf16": "mamba1_cpu", "ssd_triton": "mamba1_triton"}
    models = {"hf_mamba2": "small", "tiny_ssd": "tiny", "tiny_hybrid": "tiny", "small_ssd": "small",
              "small_hybrid": "small"}  # fmt: skip
    return kernels.get(peer) or models.get(peer)


def summarise(rows: list[dict]) -> dict:
    """Speed ratios against the Mamba-1 baseline per length and mode (> 1: faster), and scaling exponents."""
    ok = {(r["peer"], r["length"], r["mode"]): r for r in rows if r["status"] == "ok"}
    out: dict = {"ssd_over_mamba1": {}, "model_over_mamba1": {}, "alpha": {}}
    for (peer, length, mode), r in ok.items():
        base = baseline(peer)
        if base and (base, length, mode) in ok:
            key = "ssd_over_mamba1" if r["section"] == "kernel" else "model_over_mamba1"
            out[key][f"{peer}/{mode}/{length}"] = r["tokens_per_s"] / ok[(base, length, mode)]["tokens_per_s"]
    for peer, mode in {(p, m) for p, _, m in ok}:
        pts = sorted((n, r["seconds"]) for (p, n, m), r in ok.items() if (p, m) == (peer, mode))
        out["alpha"][f"{peer}/{mode}"] = alpha(pts)
    return out


SESSION_KEYS = ("threads", "loadavg_start", "loadavg_end", "note", "created", "skipped_peers")


def merge(old: dict, new: dict) -> dict:
    """``new``'s rows added to ``old``'s (a re-measured point replaces the old row); each invocation's conditions
    (threads, load, note, interpreter) are kept under ``sessions``; the summary covers every row."""
    key = lambda r: (r["section"], r["peer"], r["length"], r["mode"])  # noqa: E731
    fresh = {key(r) for r in new["rows"]}
    rows = [r for r in old["rows"] if key(r) not in fresh] + new["rows"]
    sessions = old.get("sessions") or [{k: old.get(k) for k in SESSION_KEYS}]
    sessions = [*sessions, {**{k: new.get(k) for k in SESSION_KEYS}, "python": sys.executable}]
    return {**new, "rows": rows, "summary": summarise(rows), "sessions": sessions}


def table(rows: list[dict]) -> str:
    lines = ["| section | peer | length | mode | status | tokens/s | peak RSS GiB | params | load1 |",
             "|---|---|---:|---|---|---:|---:|---:|---|"]  # fmt: skip
    for r in rows:
        ok = r["status"] == "ok"
        tps = f"{r['tokens_per_s']:,.0f}" if ok else "-"
        rss = f"{r['peak_rss_bytes'] / 2**30:.2f}" if ok else "-"
        load = "/".join(f"{v:.1f}" for v in r.get("load1", []))
        lines.append(f"| {r['section']} | {r['peer']} | {r['length']:,} | {r['mode']} | {r['status']} | {tps} | "
                     f"{rss} | {r.get('params', '-')} | {load} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        print("RESULT " + json.dumps(worker(json.loads(argv[1]))), flush=True)
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--section", choices=("kernel", "model", "all"), default="all")
    ap.add_argument("--peers", nargs="+", help=f"subset of {KERNEL_PEERS + MODEL_PEERS}")
    ap.add_argument("--lengths", type=int, nargs="+")
    ap.add_argument("--modes", nargs="+", help="subset of fwd fwdbwd (kernel) / train infer (model)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=2,
                    help="timed repeats per point after one warm-up (best kept); 0: time the first call only "
                    "(long points, where one-off costs are small against the call)")  # fmt: skip
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per point")
    ap.add_argument("--mem-cap-gib", type=float, default=20.0, help="address-space cap per CPU worker (0: none)")
    ap.add_argument("--smoke", action="store_true", help="1024 bases, tiny presets, one rep: checks the script")
    ap.add_argument("--note", default="", help="free text for the JSON (what else ran on the machine)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--merge", action="store_true",
                    help="add to --out: its rows of other points are kept (each row has its own load), the "
                    "summary covers all, and this invocation's conditions join its 'sessions'")  # fmt: skip
    args = ap.parse_args(argv)
    if not 0 <= args.reps <= 100 or not 1 <= args.threads <= 512 or args.timeout <= 0:
        ap.error("--reps must be 0..100, --threads 1..512 and --timeout > 0")

    lengths = args.lengths or ((1024,) if args.smoke else LENGTHS)
    reps = 1 if args.smoke else args.reps
    sections = ("kernel", "model") if args.section == "all" else (args.section,)
    rows: list[dict] = []
    skipped: dict[str, str] = {}
    load_start = os.getloadavg()
    for section in sections:
        peers = KERNEL_PEERS if section == "kernel" else MODEL_PEERS
        peers = [p for p in peers if not args.peers or p in args.peers]
        if args.smoke and section == "model":
            peers = [p for p in peers if p.startswith("tiny") or p == "hf_mamba2"]
        modes = ("fwd", "fwdbwd") if section == "kernel" else ("train", "infer")
        modes = [m for m in modes if not args.modes or m in args.modes]
        for peer in peers:
            why = _available(peer)
            if why:
                skipped[peer] = why
                continue
            for mode in modes:
                for length in sorted(lengths):
                    spec = dict(section=section, peer=peer, length=length, mode=mode, reps=reps, threads=args.threads)
                    res = run_point(spec, args.timeout, int(args.mem_cap_gib * 2**30))
                    rows.append({**spec, **res})
                    shown = f"{res['tokens_per_s']:,.0f} tok/s" if res["status"] == "ok" else res["status"]
                    print(f"{section:6s} {peer:13s} {mode:6s} L={length:>9,}  {shown}", file=sys.stderr, flush=True)
                    if res["status"] in ("timeout", "oom", "not_installed"):
                        break  # longer lengths cannot do better; the row says where it stopped
    import torch

    doc = {
        "benchmark": "ssd",
        "workload": {
            "kernel": {
                "d_inner": DIM,
                "ssd": f"{HEADS} heads x {HEADDIM}, state {SSD_STATE}, chunk 64",
                "mamba1": f"dim {DIM}, state {M1_STATE}",
            }
        },  # fmt: skip
        "machine": machine_info(),
        "threads": args.threads,
        "torch_threads_default": torch.get_num_threads(),
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
        "smoke": args.smoke,
        "note": args.note,
        "skipped_peers": skipped,
        "rows": rows,
        "summary": summarise(rows),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if args.merge and args.out.is_file():
        doc = merge(json.loads(args.out.read_text()), doc)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, args.out)
    print(table(rows))
    print(json.dumps(doc["summary"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
