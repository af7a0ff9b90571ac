"""Our model against CPU-runnable peer implementations, side by side: training tokens/s, inference bases/s and
peak RSS at 4k, 64k and 1M bases, random init, batch 1, one process per point.

    python benchmarks/peers_cpu.py                                     # all peers, tiny and small sizes
    python benchmarks/peers_cpu.py --sizes tiny --lengths 4096 --peers ours hf_mamba --modes train
    python benchmarks/peers_cpu.py --smoke                             # L=256, one step each (installation check)

Peers are benchmark-only; they live in a separate venv (``--peers-python``, default /work/peers-venv/bin/python):

    python3 -m venv /work/peers-venv
    /work/peers-venv/bin/pip install torch==2.13.0 numpy einops "transformers>=5" mambapy==1.2.0   # extra "peers"
    /work/peers-venv/bin/pip install --no-deps gpn helical   # model files only (see pyproject's "peers" note)

* ``hf_mamba``: transformers ``MambaForCausalLM`` (Mamba-1; on CPU the slow PyTorch path), causal
* ``mambapy``: mambapy ``Mamba`` with the parallel scan (pscan), causal
* ``mambapy_vim``: mambapy ``vim.VMamba`` (bidirectional)
* ``gpn_convnet``: GPN's ``GPNForMaskedLM`` with the convnet encoder (PyPI gpn)
* ``hyenadna``: HyenaDNA from helical's standalone file (loaded by path: helical's package __init__ pulls in its
  single-cell dependency tree, which the file does not need)
* ``ours``: genomamba (this checkout), preset ``tiny`` or ``small`` (``--model`` overrides, e.g. cpu_autocast=bf16)

Every peer gets the width and depth of the preset (d_model, n_layer), a token embedding and a vocabulary-16 output
layer where it has none; parameter counts are recorded. Training = forward, cross-entropy over all positions,
backward, AdamW step; inference = forward under no_grad. Each point runs in its own process under an
address-space limit (``--mem-gib``) and a time limit: out-of-memory, timeouts and missing packages are results.
Ratios ours/peer are reported per size, length and mode. Output: benchmarks/results/peers_cpu.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "peers_cpu.json"
SIZES = {"tiny": (64, 4), "small": (128, 4)}  # preset: (d_model, n_layer), as configs/model/<preset>.yaml
PEERS = ("ours", "hf_mamba", "mambapy", "mambapy_vim", "gpn_convnet", "hyenadna")
VOCAB = 16
DEFAULT_PEERS_PYTHON = "/work/peers-venv/bin/python"


# ------------------------------------------------------------------------------------------------ peers


class PeerLM(nn.Module):
    """ids (1, L) -> logits (1, L, V) around a peer: ``embed`` adds a token embedding (tied to the output) for
    bodies that take vectors; ``hidden`` projects a body's hidden states onto the vocabulary; bodies with their
    own output layer (transformers models) are called on ids and return ``.logits``."""

    def __init__(self, body: nn.Module, d: int, kind: str):
        super().__init__()
        self.body, self.kind = body, kind
        self.embedding = nn.Embedding(VOCAB, d) if kind in ("embed", "hidden") else None

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.kind == "logits":
            return self.body(input_ids=ids).logits
        h = self.body(self.embedding(ids)) if self.kind == "embed" else self.body(ids)
        return F.linear(h, self.embedding.weight)


def _load_hyenadna():
    """helical's standalone HyenaDNA file, without executing helical/__init__ (single-cell dependencies)."""
    import importlib.util
    import types

    spec = importlib.util.find_spec("helical")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("helical is not installed")
    root = Path(spec.origin).parent / "models" / "hyena_dna"
    for name in ("helical", "helical.models", "helical.models.hyena_dna"):
        sys.modules.setdefault(name, types.ModuleType(name)).__path__ = []

    def load(name: str, path: Path):
        s = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(s)
        sys.modules[name] = mod
        s.loader.exec_module(mod)
        return mod

    load("helical.models.hyena_dna.stochastic_depth", root / "stochastic_depth.py")
    return load("helical.models.hyena_dna.standalone_hyenadna", root / "standalone_hyenadna.py")


def build_peer(peer: str, d: int, n: int, length: int):
    """A peer language model (ids (1, L) -> logits (1, L, V)) of width d and depth n; returns (model, version)."""
    from importlib.metadata import version

    if peer == "hf_mamba":
        from transformers import MambaConfig, MambaForCausalLM

        cfg = MambaConfig(vocab_size=VOCAB, hidden_size=d, state_size=16, num_hidden_layers=n, expand=2,
                          conv_kernel=4, use_mambapy=False, tie_word_embeddings=True)  # fmt: skip
        return PeerLM(MambaForCausalLM(cfg), d, "logits"), f"transformers {version('transformers')}"
    if peer in ("mambapy", "mambapy_vim"):
        if peer == "mambapy":
            from mambapy.mamba import Mamba, MambaConfig

            body = Mamba(MambaConfig(d_model=d, n_layers=n, d_state=16, expand_factor=2, d_conv=4, pscan=True))
        else:
            from mambapy.vim import MambaConfig, VMamba

            body = VMamba(MambaConfig(d_model=d, n_layers=n, d_state=16, expand_factor=2, d_conv=4, pscan=True,
                                      bidirectional=True))  # fmt: skip
        return PeerLM(body, d, "embed"), f"mambapy {version('mambapy')}"
    if peer == "gpn_convnet":
        import gpn.model  # noqa: F401  (registers the GPN classes)
        from gpn.model import GPNConfig, GPNForMaskedLM

        cfg = GPNConfig(vocab_size=VOCAB, encoder="convnet", hidden_size=d, num_hidden_layers=n,
                        intermediate_size=4 * d)  # fmt: skip
        return PeerLM(GPNForMaskedLM(cfg), d, "logits"), f"gpn {version('gpn')}"
    if peer == "hyenadna":
        mod = _load_hyenadna()
        layer = {"_name_": "hyena", "emb_dim": 5, "filter_order": 64, "l_max": length + 2, "local_order": 3,
                 "modulate": True, "w": 10, "lr": 6e-4, "wd": 0.0, "lr_pos_emb": 0.0}  # fmt: skip
        body = mod.HyenaDNAModel(d_model=d, n_layer=n, d_inner=4 * d, vocab_size=VOCAB, layer=layer,
                                 max_position_embeddings=0, embed_dropout=0.0)  # fmt: skip
        return PeerLM(body, d, "hidden"), f"helical {version('helical')} standalone_hyenadna"
    raise ValueError(f"unknown peer {peer!r}")


# ------------------------------------------------------------------------------------------------ worker


def _ours(size: str, length: int, mode: str, overrides: dict):
    """(step function, parameter count, version) for genomamba."""
    from profile_train import build_step

    if mode == "train":
        step, module = build_step(size, length, overrides)
        return step, module.model.num_parameters(), "genomamba"
    from genomamba.model import GenomambaModel, ModelConfig

    torch.manual_seed(0)
    model = GenomambaModel(ModelConfig.from_preset(size, overrides)).eval()
    ids = torch.randint(0, 4, (1, length))

    def infer():
        with torch.no_grad():
            model(ids)

    return infer, model.num_parameters(), "genomamba"


def _peer(peer: str, size: str, length: int, mode: str):
    torch.manual_seed(0)
    d, n = SIZES[size]
    model, ver = build_peer(peer, d, n, length)
    ids = torch.randint(0, 4, (1, length))
    params = sum(p.numel() for p in model.parameters())
    if mode == "infer":
        model.eval()

        def infer():
            with torch.no_grad():
                model(ids)

        return infer, params, ver
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def train():
        logits = model(ids)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), ids.reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return train, params, ver


def reuse_freed_memory() -> None:
    """The allocator setting ours trains with (genomamba.threads.reuse_freed_memory), for every worker alike."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt(-4, 0)  # M_MMAP_MAX
        libc.mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError, TypeError):
        pass


def worker(args) -> dict:
    if args.reuse_memory:
        reuse_freed_memory()
    if args.mem_gib:
        lim = int(args.mem_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    torch.set_num_threads(args.threads)
    if args.peer == "ours":
        from genomamba.threads import apply_threads

        apply_threads(args.threads)
    try:
        if args.peer == "ours":
            from profile_train import model_overrides

            fn, params, ver = _ours(args.size, args.length, args.mode, model_overrides(args.model))
        else:
            fn, params, ver = _peer(args.peer, args.size, args.length, args.mode)
    except ImportError as e:
        return {"status": "not installed", "error": str(e)}
    try:
        first = None
        if args.length < 262144 and args.steps > 1:
            t = time.perf_counter()
            fn()
            first = time.perf_counter() - t
        times = []
        for _ in range(max(1, args.steps - (first is not None))):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    except (MemoryError, RuntimeError) as e:
        if isinstance(e, MemoryError) or "alloc" in str(e).lower() or "memory" in str(e).lower():
            return {"status": "oom", "error": str(e)[:300], "params": params, "version": ver}
        raise
    best = min(times)
    return {
        "status": "ok",
        "version": ver,
        "params": params,
        "threads": torch.get_num_threads(),
        "first_step_s": first,
        "step_s": times,
        "tokens_per_s": args.length / best,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


# ------------------------------------------------------------------------------------------------ driver


def ratios(points: list[dict]) -> list[dict]:
    """ours / peer tokens per second at every (size, length, mode) where both ran."""
    ours = {(p["size"], p["length"], p["mode"]): p for p in points if p["peer"] == "ours"}
    out = []
    for p in points:
        o = ours.get((p["size"], p["length"], p["mode"]))
        if p["peer"] == "ours" or o is None:
            continue
        row = {k: p[k] for k in ("peer", "size", "length", "mode")}
        if o.get("status") == "ok" and p.get("status") == "ok":
            row["ours_over_peer"] = o["tokens_per_s"] / p["tokens_per_s"]
        else:
            row["ours_over_peer"] = None
            row["why"] = f"ours: {o.get('status')}, peer: {p.get('status')}"
        out.append(row)
    return out


def main() -> None:
    from profile_train import git_commit, machine_record, run_worker, source_env

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
    p.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    p.add_argument("--lengths", nargs="+", type=int, default=[4096, 65536, 1048576])
    p.add_argument("--modes", nargs="+", default=["train", "infer"], choices=["train", "infer"])
    p.add_argument("--steps", type=int, default=3, help="steps per point, the first a warm-up below 256k")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", nargs="*", default=[], metavar="KEY=VALUE", help="ModelConfig overrides for ours")
    p.add_argument("--mem-gib", type=float, default=20.0, help="address-space limit per point (0: none)")
    p.add_argument("--no-reuse-memory", dest="reuse_memory", action="store_false",
                   help="leave glibc's malloc as it is (default: freed memory kept, every worker)")  # fmt: skip
    p.add_argument("--point-timeout-s", type=float, default=900)
    p.add_argument("--peers-python", default=DEFAULT_PEERS_PYTHON, help="interpreter with the peer packages")
    p.add_argument("--smoke", action="store_true", help="L=256, one step, short timeouts: checks installs")
    p.add_argument("--src", type=Path, default=ROOT)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--note", default="")
    p.add_argument("--worker", nargs=4, metavar=("PEER", "SIZE", "LENGTH", "MODE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        args.peer, args.size, length, args.mode = args.worker
        args.length = int(length)
        print("RESULT " + json.dumps(worker(args)), flush=True)
        return
    if args.smoke:
        args.lengths, args.steps, args.point_timeout_s = [256], 1, 120
    out = args.out or (DEFAULT_OUT.with_name("peers_cpu_smoke.json") if args.smoke else DEFAULT_OUT)
    start = machine_record()
    # every worker: OpenMP threads sleep while waiting (as genomamba.threads.prepare_process sets for ours)
    ours_env = source_env(args.src, {"OMP_WAIT_POLICY": "PASSIVE"})
    peer_env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "OMP_WAIT_POLICY": "PASSIVE"}
    peers_ok = Path(args.peers_python).exists()
    points = []
    # round-robin over peers inside each (length, size, mode): machine drift spreads over all of them
    for length in args.lengths:
        for size in args.sizes:
            for mode in args.modes:
                for peer in args.peers:
                    point = {"peer": peer, "size": size, "length": length, "mode": mode}
                    if peer != "ours" and not peers_ok:
                        points.append({**point, "status": f"not installed (no interpreter {args.peers_python})"})
                        continue
                    python = sys.executable if peer == "ours" else args.peers_python
                    cmd = [python, __file__, "--worker", peer, size, str(length), mode, "--steps", str(args.steps)]
                    cmd += ["--threads", str(args.threads), "--mem-gib", str(args.mem_gib)]
                    cmd += ["--model", *args.model] if args.model else []
                    cmd += [] if args.reuse_memory else ["--no-reuse-memory"]
                    env = ours_env if peer == "ours" else peer_env
                    points.append({**point, **run_worker(cmd, env, args.point_timeout_s)})
                    print(json.dumps({k: points[-1].get(k) for k in (*point, "status", "tokens_per_s", "wall_s")}),
                          flush=True)  # fmt: skip
    doc = {
        "benchmark": "CPU peers: training tokens/s (fwd+CE+bwd+AdamW) and inference bases/s, batch 1, random init",
        "sizes": {k: {"d_model": d, "n_layer": n} for k, (d, n) in SIZES.items() if k in args.sizes},
        "threads": args.threads,
        "mem_limit_gib": args.mem_gib,
        "reuse_freed_memory": args.reuse_memory,
        "src": str(args.src.resolve()),
        "commit": git_commit(args.src),
        "peers_python": args.peers_python,
        "machine": start,
        "loadavg_at_start": start["loadavg"],
        "loadavg_at_end": list(os.getloadavg()),
        "note": args.note,
        "points": points,
        "ratios": ratios(points),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
