"""Inference benchmarks on CPU: bounded-memory tracks at growing chromosome length, and one-pass vs per-variant ISM.

1. Tracks. For each size, a synthetic chromosome (uniform random ACGT, seeded) is written to a FASTA and
   ``genomamba track --regions all`` runs over it in a fresh subprocess that reports its own peak resident memory
   (ru_maxrss) and the track throughput (bases/s, from track.json). Streaming in tiles should keep the peak flat from
   1 Mb to 50 Mb: only the tile in flight and the track writers' buffers are held.
2. ISM. Zero-shot saturation mutagenesis of a region, once with one pass per tile (every position's four
   log-probabilities from one forward pass, fusion "head") and once with one pass per variant (what scoring the 3 x n
   SNVs as separate variants costs, ``--per-variant``); reports both times, the speed-up and the largest score
   difference (the two must agree).

The model is a random-init preset (``--preset``, default tiny) unless ``--checkpoint`` is given: speed and memory do
not depend on the weights.

    python benchmarks/inference.py                                   # 1, 5, 10, 25, 50 Mb; ISM of 1,000 bases
    python benchmarks/inference.py --sizes-mb 0.25,1 --threads 1 --ism-bases 50 --ism-context 1024 \\
        --out /tmp/inference_smoke.json                               # smoke run
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

_WORKER = """
import json, resource, sys
from genomamba.cli import main
code = main(sys.argv[1:])
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"code": code, "peak_rss_mb": round(peak_mb, 1)}))
sys.exit(code)
"""


def write_chromosome(path: Path, name: str, bases: int, seed: int, chunk: int = 80 << 14) -> Path:
    """A FASTA with one random ACGT sequence of ``bases``, written ``chunk`` bases (whole 80-base lines) at a time."""
    import numpy as np

    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(path, "wb") as fh:
        fh.write(f">{name}\n".encode())
        for start in range(0, bases, chunk):
            seq = letters[rng.integers(0, 4, min(chunk, bases - start))]
            lines = [seq[i : i + 80].tobytes() for i in range(0, seq.size, 80)]
            fh.write(b"\n".join(lines) + b"\n")
    return path


def make_checkpoint(preset: str, out: Path) -> Path:
    import torch

    from genomamba.model import GenomambaModel, ModelConfig

    torch.manual_seed(0)
    GenomambaModel(ModelConfig.from_preset(preset)).save_pretrained(out)
    return out


def track_run(fasta: Path, checkpoint: Path, out: Path, threads: int, extra: list[str]) -> dict:
    """One `genomamba track` over the whole FASTA in a fresh process -> peak RSS and track.json numbers."""
    cmd = [sys.executable, "-c", _WORKER, "-q", "track", "--checkpoint", str(checkpoint), "--fasta", str(fasta)]
    cmd += ["--regions", "all", "--out", str(out), "--device", "cpu", "--threads", str(threads), *extra]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"track failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    worker = json.loads(proc.stdout.strip().splitlines()[-1])
    record = json.loads((out / "track.json").read_text())
    keep = ("bases", "seconds", "bases_per_second", "geometry", "bigwig_zooms")
    return {"peak_rss_mb": worker["peak_rss_mb"], **{k: record[k] for k in keep}}


def ism_compare(fasta: Path, checkpoint: Path, bases: int, context: int, tmp: Path) -> dict:
    """Zero-shot ISM of ``bases`` positions, one pass per tile vs one pass per variant."""
    import numpy as np
    import polars as pl

    from genomamba.genome.fasta import Genome
    from genomamba.infer.config import IsmConfig
    from genomamba.infer.ism_run import run_ism
    from genomamba.infer.regions import Region

    out: dict = {"bases": bases, "context": context}
    tables = {}
    with Genome(fasta) as genome:
        name, length = next(iter(genome.contigs.items()))
        start = max(0, length // 2 - bases // 2)
        region = [Region(name, start, start + bases)]
        for mode in (False, True):
            key = "per_variant" if mode else "one_pass"
            cfg = IsmConfig(context=context, per_variant=mode, device="cpu", max_bases=max(bases, 1))
            t0 = time.perf_counter()
            record = run_ism(checkpoint, genome, region, tmp / key, cfg)
            out[f"{key}_seconds"] = round(time.perf_counter() - t0, 3)
            out[f"{key}_windows"] = record["sequences_scored"]
            tables[key] = pl.read_parquet(tmp / key / "ism.parquet")["llr"].to_numpy()
    out["variants"] = int(tables["one_pass"].size)
    out["speedup"] = round(out["per_variant_seconds"] / max(out["one_pass_seconds"], 1e-9), 1)
    out["max_abs_diff"] = float(np.abs(tables["one_pass"] - tables["per_variant"]).max())
    return out


def merge(old: dict, new: dict) -> dict:
    """``new`` added to an earlier result: track rows of sizes it did not measure are kept, its ISM (or the old one
    when it ran none), and every invocation's start time, machine and note under ``sessions``."""
    sizes = {r["mb"] for r in new["tracks"]}
    tracks = sorted([r for r in old["tracks"] if r["mb"] not in sizes] + new["tracks"], key=lambda r: r["mb"])
    keys = ("started", "machine", "note")
    sessions = old.get("sessions") or [{k: old.get(k) for k in keys}]
    merged = {**new, "tracks": tracks, "sessions": [*sessions, {k: new.get(k) for k in keys}]}
    if "ism" not in new and "ism" in old:
        merged["ism"] = old["ism"]
    return merged


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes-mb", default="1,5,10,25,50", help="synthetic chromosome sizes in Mb")
    ap.add_argument("--preset", default="tiny", help="random-init model preset (ignored with --checkpoint)")
    ap.add_argument("--checkpoint", type=Path, help="a fusion-head checkpoint to time instead")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--track-args", default="", help="extra `genomamba track` flags, e.g. '--tile 32768'")
    ap.add_argument("--ism-bases", type=int, default=1000, help="positions mutated (0 = skip the ISM part)")
    ap.add_argument("--ism-context", type=int, default=4096)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/inference.json")
    ap.add_argument("--note", default="", help="conditions of this run (load, other jobs), kept in the JSON")
    ap.add_argument("--merge", action="store_true",
                    help="add to --out: its tracks of other sizes (and its ISM when this run skips ISM) are kept; "
                    "each invocation's conditions join its 'sessions'")  # fmt: skip
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    sizes = [float(x) for x in args.sizes_mb.split(",") if x]
    result: dict = {
        "what": "genomamba track over a synthetic chromosome per size (fresh process: peak RSS, bases/s), and "
        "zero-shot ISM one pass per tile vs one pass per variant, CPU",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "threads": args.threads},
        "model": str(args.checkpoint) if args.checkpoint else f"random-init preset {args.preset}",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "note": args.note,
        "tracks": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = args.checkpoint or make_checkpoint(args.preset, tmp / "model")
        for i, mb in enumerate(sizes):
            fasta = write_chromosome(tmp / f"chr{i}.fa", f"synth{i}", int(mb * 1_000_000), seed=i)
            load = os.getloadavg()[0]
            row = {"mb": mb, **track_run(fasta, ckpt, tmp / f"tracks{i}", args.threads, args.track_args.split())}
            row["load1"] = [load, os.getloadavg()[0]]
            result["tracks"].append(row)
            print(json.dumps(row), file=sys.stderr)
            fasta.unlink()
        if args.ism_bases:
            fasta = write_chromosome(tmp / "ism.fa", "synth_ism", max(100_000, 4 * args.ism_context), seed=99)
            result["ism"] = ism_compare(fasta, ckpt, args.ism_bases, args.ism_context, tmp)
            print(json.dumps(result["ism"]), file=sys.stderr)
    if args.merge and args.out.is_file():
        result = merge(json.loads(args.out.read_text()), result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp_out, args.out)
    print("| Mb | peak RSS (MB) | bases/s |\n|---:|---:|---:|")
    for r in result["tracks"]:
        print(f"| {r['mb']:g} | {r['peak_rss_mb']:.0f} | {r['bases_per_second']:,.0f} |")
    if "ism" in result:
        s = result["ism"]
        times = f"one pass {s['one_pass_seconds']} s, per variant {s['per_variant_seconds']} s ({s['speedup']}x)"
        print(f"ISM {s['bases']} bases: {times}, max |diff| {s['max_abs_diff']:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
