"""Variant-scoring throughput on CPU: fusion "head" shared-window scoring vs one pass per variant, by context.

Generates a random reference and a VCF with one SNV every ~100 bp (jittered), saves a randomly initialised model
of the given config (speed does not depend on the weights), then runs the real ``score_vcf`` driver (VCF in,
bgzipped + indexed VCF out) at each context length:

* shared: every variant of a tile is scored from one forward pass (the default);
* per-variant: one forward pass per variant over the same window (identical scores), on the first
  ``--per-variant-n`` variants only (it is ~stride/100 times slower).

Reports variants/s and seconds per variant, and the ratio cost(128k) / cost(1k) for shared scoring (target <= 2).

    python benchmarks/vep.py                               # contexts 1k, 16k, 128k; tiny model; 2 threads
    python benchmarks/vep.py --contexts 1024,4096 --genome-length 100000 --out /tmp/vep.json
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
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def make_inputs(folder: Path, length: int, spacing: int, seed: int) -> tuple[Path, Path, int]:
    rng = np.random.default_rng(seed)
    seq = "".join(rng.choice(list("ACGT"), length))
    fasta = folder / "bench.fa"
    with open(fasta, "w") as fh:
        fh.write(">bench\n")
        for i in range(0, length, 80):
            fh.write(seq[i : i + 80] + "\n")
    positions = np.arange(spacing // 2, length - 1, spacing) + rng.integers(-spacing // 4, spacing // 4 + 1)
    positions = np.unique(np.clip(positions, 0, length - 1))
    vcf = folder / "bench.vcf"
    with open(vcf, "w") as fh:
        fh.write(f"##fileformat=VCFv4.2\n##contig=<ID=bench,length={length}>\n")
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for p in positions:
            ref = seq[p]
            alt = "ACGT"[("ACGT".index(ref) + 1 + int(rng.integers(0, 3))) % 4]
            fh.write(f"bench\t{p + 1}\t.\t{ref}\t{alt}\t.\t.\t.\n")
    return fasta, vcf, int(positions.size)


def run(args) -> dict:
    import torch

    from genomamba.model import GenomambaModel, ModelConfig
    from genomamba.vep import ScoreVcfConfig, score_vcf

    torch.set_num_threads(args.threads)
    results = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "torch": torch.__version__,
            "load_avg_at_start": os.getloadavg(),
        },
        "model_config": args.model_config,
        "genome_length": args.genome_length,
        "variant_spacing_bp": args.spacing,
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fasta, vcf, n_variants = make_inputs(tmp, args.genome_length, args.spacing, args.seed)
        results["variants"] = n_variants
        cfg = ModelConfig.from_preset(args.model_config, {"backend": args.backend})
        torch.manual_seed(0)
        ckpt = tmp / "ckpt"
        GenomambaModel(cfg).save_pretrained(ckpt)
        for context in args.contexts:
            for mode in ("shared", "per-variant"):
                if mode == "per-variant":
                    # a region holding the first N variants (1-based inclusive end)
                    with open(vcf) as fh:
                        pos = [int(x.split("\t")[1]) for x in fh if not x.startswith("#")]
                    regions = f"bench:1-{pos[min(args.per_variant_n, len(pos)) - 1]}"
                else:
                    regions = None
                conf = ScoreVcfConfig(context=context, per_variant=mode == "per-variant", threads=args.threads)
                out = tmp / f"out_{context}_{mode}.vcf.gz"
                t0 = time.perf_counter()
                summary = score_vcf(
                    vcf, fasta, out, conf, checkpoint=str(ckpt), regions=regions, backend=args.backend, progress=False
                )
                seconds = time.perf_counter() - t0
                n = summary["scored_alleles"]
                row = {
                    "context": context,
                    "mode": mode,
                    "variants": n,
                    "seconds": round(seconds, 3),
                    "variants_per_s": round(n / seconds, 3),
                    "ms_per_variant": round(1000 * seconds / n, 3),
                    "forward_windows": summary["sequences_scored"],
                    "batch_size": conf.effective_batch_size,
                }
                results["runs"].append(row)
                print(json.dumps(row), flush=True)
    shared = {r["context"]: r for r in results["runs"] if r["mode"] == "shared"}
    per_var = {r["context"]: r for r in results["runs"] if r["mode"] == "per-variant"}
    lo, hi = min(shared), max(shared)
    results["shared_cost_ratio_max_vs_min_context"] = {
        "contexts": [hi, lo],
        "ratio": round(shared[hi]["ms_per_variant"] / shared[lo]["ms_per_variant"], 3),
        "target": "<= 2",
    }
    results["per_variant_over_shared_cost"] = {
        c: round(per_var[c]["ms_per_variant"] / shared[c]["ms_per_variant"], 2) for c in shared if c in per_var
    }
    results["machine"]["load_avg_at_end"] = os.getloadavg()
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--contexts", default="1024,16384,131072")
    p.add_argument("--genome-length", type=int, default=400_000)
    p.add_argument("--spacing", type=int, default=100, help="mean distance between variants (bp)")
    p.add_argument("--per-variant-n", type=int, default=4, help="variants scored in per-variant mode")
    p.add_argument("--model-config", default="tiny")
    p.add_argument("--backend", default="cpu")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: OpenMP spin-waiting makes 2 threads slower on a busy 2-core machine)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "vep.json"))
    args = p.parse_args()
    args.contexts = [int(x) for x in args.contexts.split(",")]
    results = run(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print("| context | mode | variants | variants/s | ms/variant |\n|---|---|---:|---:|---:|")
    for r in results["runs"]:
        print(f"| {r['context']:,} | {r['mode']} | {r['variants']} | {r['variants_per_s']} | {r['ms_per_variant']} |")
    print(json.dumps({k: results[k] for k in ("shared_cost_ratio_max_vs_min_context", "per_variant_over_shared_cost")}))


if __name__ == "__main__":
    main()
