"""``genomamba evaluate``: metrics (JSON/TSV) and ROC/PR plots from a predictions table and its labels."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="metrics from predictions + labels (JSON/TSV, ROC/PR PNGs for classification)",
        description="Read a `genomamba predict` table (and its <file>.json provenance) and write metrics.json and "
        "metrics.tsv (AUROC, AUPRC, MCC, F1, accuracy -- macro for multi-class -- or Spearman, Pearson, R2), with "
        "the dataset, split, checkpoint and config recorded, plus roc.png and pr.png for classification "
        "(one-vs-rest curves per class for multi-class). "
        "--kmer-baseline fits the k-mer baseline on the checkpoint's own train/val splits and scores the same rows.",
    )
    p.add_argument("--predictions", required=True, type=Path, metavar="FILE", help="output of genomamba predict")
    p.add_argument("--out-dir", required=True, type=Path, metavar="DIR")
    p.add_argument("--kmer-baseline", action="store_true", help="report the k-mer baseline on the same rows")
    p.set_defaults(func=run)


def _read_predictions(path: Path):
    import json

    import polars as pl

    from genomamba.errors import GenomambaError
    from genomamba.finetune.tables import read_table

    meta_path = Path(f"{path}.json")
    if not meta_path.is_file():
        raise GenomambaError(
            f"provenance file {meta_path.name} is missing (write predictions with genomamba predict)", path
        )
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise GenomambaError(f"not valid JSON ({exc.msg})", meta_path) from None
    table = read_table(path)  # all-string columns + _line
    for col in ("split", "label"):
        if col not in table.columns:
            raise GenomambaError(f"missing column {col!r}", path)
    return meta, table.with_columns(pl.col("label").replace("", None))


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np
    import polars as pl

    from genomamba.atomic import atomic_dir
    from genomamba.errors import GenomambaError
    from genomamba.metrics.supervised import compute_metrics, plot_curves, write_metrics

    meta, table = _read_predictions(args.predictions)
    task, classes = meta["task"], meta["classes"]
    labeled = table.filter(pl.col("label").is_not_null())
    if labeled.height == 0:
        raise GenomambaError("no labeled rows: evaluate needs the label column filled", args.predictions)
    if task == "regression":
        y = labeled["label"].cast(pl.Float64).to_numpy()
        needed = ["pred"]
    else:
        index = {c: k for k, c in enumerate(classes)}
        bad = [v for v in labeled["label"].unique().to_list() if v not in index]
        if bad:
            raise GenomambaError(f"unknown label {bad[0]!r} (classes: {', '.join(classes)})", args.predictions)
        y = np.array([index[v] for v in labeled["label"].to_list()], dtype=np.int64)
        needed = ["score"] if task == "binary" else [f"prob_{c}" for c in classes]
    for col in needed:
        if col not in labeled.columns:
            raise GenomambaError(f"missing column {col!r} for a {task} task", args.predictions)
    scores = labeled.select(needed).cast(pl.Float64).to_numpy()
    scores = scores[:, 0] if scores.shape[1] == 1 else scores
    splits = labeled["split"].to_numpy()
    results = []
    for name in sorted(set(splits.tolist())):
        sel = splits == name
        results.append(
            {
                "model": "finetuned",
                "split": name,
                "checkpoint": meta["checkpoint"],
                "metrics": compute_metrics(task, y[sel], scores[sel], len(classes)),
            }
        )
    if args.kmer_baseline:
        results += _baseline_results(meta, labeled, task, classes)
    record = {
        "dataset": meta["dataset"],
        "task": task,
        "classes": classes,
        "checkpoint": meta["checkpoint"],
        "config": meta.get("config", ""),
        "predictions": str(args.predictions),
        "strands": meta.get("strands"),
        "results": results,
    }
    with atomic_dir(args.out_dir) as tmp:
        write_metrics(tmp / "metrics.json", tmp / "metrics.tsv", record)
        if task != "regression" and np.unique(y).size >= 2:
            # binary: one curve; multi-class: one-vs-rest curves per class
            plot_curves(
                y,
                scores,
                tmp / "roc.png",
                tmp / "pr.png",
                f"{Path(meta['dataset'].split(';')[0]).name} ({meta['split']})",
                classes,
            )
    for r in results:
        print(
            f"{r['model']} {r['split']}: "
            + ", ".join(f"{k} {v:.4f}" for k, v in r["metrics"].items() if isinstance(v, float))
        )
    print(json.dumps({"out_dir": str(args.out_dir)}))
    return 0


def _baseline_results(meta: dict, labeled, task: str, classes: list[str]) -> list[dict]:
    """k-mer baseline fitted on the checkpoint's training dataset (train/val), scored on the predicted rows."""
    import dataclasses

    from genomamba.baselines.kmer_classifier import run_kmer_baseline
    from genomamba.config import from_dict
    from genomamba.finetune.datasets import DataConfig, load_labeled
    from genomamba.metrics.supervised import compute_metrics

    base = run_kmer_baseline(load_labeled(from_dict(DataConfig, meta["train_data"])))
    rows_cfg = from_dict(DataConfig, meta["data"])
    rows = load_labeled(
        dataclasses.replace(rows_cfg, task=task, classes=classes or None),
        default_split="test" if rows_cfg.resplit is None else None,
    )
    out = []
    for name in sorted(set(labeled["split"].to_list())):
        part = rows.splits.get(name)
        if part is None or len(part) == 0:
            continue
        out.append(
            {
                "model": "kmer-baseline",
                "split": name,
                "checkpoint": "",
                "metrics": compute_metrics(task, part.labels, base.score(part.tokens), len(classes)),
            }
        )
    return out
