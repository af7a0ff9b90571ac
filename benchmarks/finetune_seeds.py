"""How much the demo's fine-tuned AUROC moves with the fine-tuning seed, for one or more pretrained checkpoints.

`make demo` fine-tunes the bundled model once (configs/finetune/demo_emp.yaml: GUE yeast H3, 899 train / 374 test
rows, 3 epochs) and prints its test AUROC beside the k-mer baseline's. One run cannot say whether a change between
two checkpoints is theirs or the seed's. This runs the same `genomamba finetune` for each LABEL=CHECKPOINT and each
seed (train.seed; the split stays split_seed 0, so every run sees the same rows), and writes each run's val/test
AUROC, the k-mer baseline's (the same for every run: it does not depend on the seed) and the mean and spread per
checkpoint.

    python benchmarks/finetune_seeds.py new=default old=results/default_model_L12/pretrain/best --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recipe import ROOT, labelled_items, machine, write_json  # noqa: E402

CONFIG = ROOT / "configs/finetune/demo_emp.yaml"


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", metavar="LABEL=CHECKPOINT", help="`default` or a checkpoint folder")
    ap.add_argument("--config", type=Path, default=CONFIG, help="fine-tuning config (default: %(default)s)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="train.seed values (default: 0 1 2)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (1-64)")
    ap.add_argument("--work", type=Path, default=ROOT / "results/finetune_seeds")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/finetune_seeds.json")
    ap.add_argument("--note", default="", help="conditions of the run (load, other jobs), kept in the JSON")
    args = ap.parse_args(argv)
    args.checkpoints = labelled_items(args.checkpoints, "checkpoints", "CHECKPOINT")
    missing = [p for p in args.checkpoints.values() if p != "default" and not Path(p).is_dir()]
    if missing:
        ap.error(f"no such checkpoint folder: {', '.join(missing)}")
    if (
        not 1 <= len(args.seeds) <= 100
        or any(not 0 <= s < 2**31 for s in args.seeds)
        or len(set(args.seeds)) < len(args.seeds)
    ):
        ap.error("--seeds: 1-100 distinct values in [0, 2^31)")
    if not 1 <= args.threads <= 64:
        ap.error(f"--threads must be 1-64, got {args.threads}")
    if args.out.suffix != ".json":
        ap.error(f"--out must be a .json file, got {args.out}")
    return args


def auroc_of(metrics: dict, model: str, split: str = "test") -> float:
    return next(r["metrics"]["auroc"] for r in metrics["results"] if r["model"] == model and r["split"] == split)


def run_cli(cmd: list[str], threads: int) -> None:
    print(" ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": str(threads)})


def finetune(args, label: str, ckpt: str, seed: int) -> dict:
    """One `genomamba finetune` run (reused when its metrics.json exists); its AUROCs and time."""
    out = args.work / label / f"seed{seed}"
    if not (out / "metrics.json").is_file():
        cmd = [sys.executable, "-m", "genomamba", "finetune", "--config", str(args.config), "--pretrained", ckpt,
               "--out", str(out), f"train.seed={seed}", f"train.threads={args.threads}"]  # fmt: skip
        run_cli(cmd, args.threads)
    m = json.loads((out / "metrics.json").read_text())
    return {"seed": seed, "val_auroc": auroc_of(m, "finetuned", "val"), "test_auroc": auroc_of(m, "finetuned"),
            "kmer_test_auroc": auroc_of(m, "kmer-baseline"), "best_epoch": m["best_epoch"],
            "train_seconds": m["train_seconds"], "n_test": m["data_summary"]["test"]["n"]}  # fmt: skip


def summary(runs: list[dict]) -> dict:
    aurocs = [r["test_auroc"] for r in runs]
    return {"mean_test_auroc": statistics.fmean(aurocs), "sd_test_auroc": statistics.stdev(aurocs) if len(runs) > 1
            else None, "min_test_auroc": min(aurocs), "max_test_auroc": max(aurocs),
            "kmer_test_auroc": runs[0]["kmer_test_auroc"]}  # fmt: skip


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.time()
    runs = {label: [finetune(args, label, ckpt, s) for s in args.seeds] for label, ckpt in args.checkpoints.items()}
    result = {
        "what": "demo fine-tuning (test AUROC) over fine-tuning seeds, per pretrained checkpoint",
        "config": str(args.config.relative_to(ROOT) if args.config.is_relative_to(ROOT) else args.config),
        "checkpoints": args.checkpoints,
        "seeds": args.seeds,
        "machine": machine(args.threads),
        "note": args.note,
        "load_average": list(os.getloadavg()),
        "seconds": round(time.time() - started, 1),
        "runs": runs,
        "summary": {label: summary(r) for label, r in runs.items()},
    }
    write_json(args.out, result)
    for label, s in result["summary"].items():
        sd = f" ± {s['sd_test_auroc']:.3f}" if s["sd_test_auroc"] is not None else ""
        print(f"{label}: test AUROC {s['mean_test_auroc']:.3f}{sd} (min {s['min_test_auroc']:.3f}, max "
              f"{s['max_test_auroc']:.3f}; k-mer {s['kmer_test_auroc']:.3f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
