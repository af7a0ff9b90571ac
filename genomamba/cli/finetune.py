"""``genomamba finetune``: a pretrained (or fresh) model + a labeled dataset -> a fine-tuned checkpoint + metrics."""

from __future__ import annotations

import argparse
from pathlib import Path

# flag -> FinetuneConfig key; unset flags fall back to --config, then to the dataclass defaults
_FLAGS = {"pretrained": "pretrained", "from_scratch": "from_scratch", "data": "data.path", "fasta": "data.fasta"}


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
    p.add_argument(
        "--pretrained", metavar="DIR", help="pretrained checkpoint, or `default`: the bundled model (overrides config)"
    )
    p.add_argument(
        "--from-scratch",
        action="store_true",
        default=None,
        help="fresh weights (with --pretrained: the same architecture, for comparison)",
    )
    p.add_argument("--data", metavar="PATH", help="dataset path (overrides data.path)")
    p.add_argument("--fasta", metavar="NAME_OR_PATH", help="reference for an interval dataset (data.fasta)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. train.max_epochs=3")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from genomamba.config import flag_values
    from genomamba.finetune.config import load_finetune_config
    from genomamba.finetune.run import run_finetune
    from genomamba.metrics.supervised import result_lines

    cfg = load_finetune_config(args.config, args.overrides, flag_values(args, _FLAGS))
    record = run_finetune(cfg, args.out, str(args.config) if args.config else None)
    summary = {key: record[key] for key in ("dataset", "task", "best_epoch")}
    print(json.dumps({"out": str(args.out), **summary, "train_seconds": round(record["train_seconds"], 1)}))
    print("\n".join(result_lines(record)))
    return 0
