"""``genomamba finetune``: a pretrained (or fresh) model + a labeled dataset -> a fine-tuned checkpoint + metrics."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune",
        help="fine-tune on a labeled dataset (classification or regression), with a k-mer baseline beside it",
        description="Fine-tune a sequence head (pooling mean|center, both-strand averaging at evaluation) on a "
        "labeled dataset, select the best epoch on the validation split (AUROC binary, MCC multi-class, Spearman "
        "regression) with early stopping, and write a checkpoint directory (loadable by predict) with "
        "metrics.json/metrics.tsv for the model and a k-mer baseline on the same val/test splits.",
    )
    p.add_argument("--config", type=Path, metavar="YAML", help="FinetuneConfig (configs/finetune/*.yaml)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output checkpoint directory")
    p.add_argument("--pretrained", metavar="DIR", help="pretrained checkpoint (overrides the config)")
    p.add_argument(
        "--from-scratch",
        action="store_true",
        help="fresh weights (with --pretrained: the same architecture, for comparison)",
    )
    p.add_argument("--data", metavar="PATH", help="dataset path (overrides data.path)")
    p.add_argument("--fasta", metavar="NAME_OR_PATH", help="reference for an interval dataset (data.fasta)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. train.max_epochs=3")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import shutil

    import yaml

    from genomamba.atomic import atomic_dir
    from genomamba.config import to_dict
    from genomamba.finetune import module as ft
    from genomamba.finetune.datasets import describe_source, load_labeled
    from genomamba.metrics.supervised import write_metrics

    overrides = list(args.overrides)
    if args.pretrained:
        overrides.append(f"pretrained={args.pretrained}")
    if args.from_scratch:
        overrides.append("from_scratch=true")
    if args.data:
        overrides.append(f"data.path={args.data}")
    if args.fasta:
        overrides.append(f"data.fasta={args.fasta}")
    cfg = ft.load_finetune_config(args.config, overrides)
    data = load_labeled(cfg.data)
    data.split("train"), data.split("val")  # fail fast on empty splits, before any training
    with atomic_dir(args.out) as tmp:
        result = ft.finetune(cfg, data, log_dir=str(tmp / "logs"))
        extra = ft.checkpoint_extra(cfg, data, result, str(args.config) if args.config else None)
        result.net.save_pretrained(tmp / ".checkpoint", extra=extra)
        for f in (tmp / ".checkpoint").iterdir():
            shutil.move(str(f), tmp / f.name)
        (tmp / ".checkpoint").rmdir()
        (tmp / "finetune.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        record = ft.evaluate_with_baseline(
            cfg, data, result, checkpoint=str(args.out), config=str(args.config) if args.config else ""
        )
        write_metrics(tmp / "metrics.json", tmp / "metrics.tsv", record)
    lines = [
        f"{r['model']} {r['split']}: "
        + ", ".join(f"{k} {v:.4f}" for k, v in r["metrics"].items() if isinstance(v, float))
        for r in record["results"]
    ]
    print(
        json.dumps(
            {
                "out": str(args.out),
                "dataset": describe_source(cfg.data),
                "task": data.task,
                "best_epoch": result.best_epoch,
                "train_seconds": round(result.seconds, 1),
            }
        )
    )
    print("\n".join(lines))
    return 0
