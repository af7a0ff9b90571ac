"""``genomamba evaluate``: metrics (JSON/TSV) and ROC/PR plots from a predictions table and its labels."""

from __future__ import annotations

import argparse


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
    p.add_argument("--predictions", required=True, metavar="FILE", help="output of genomamba predict")
    p.add_argument("--out-dir", required=True, metavar="DIR")
    p.add_argument(
        "--kmer-baseline", action="store_true", default=None, help="report the k-mer baseline on the same rows"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from genomamba.config import flag_values, load_config
    from genomamba.finetune.config import EvaluateConfig
    from genomamba.finetune.evaluate import evaluate_predictions
    from genomamba.metrics.summary import notes
    from genomamba.metrics.supervised import result_lines

    cfg = load_config(EvaluateConfig, flags=flag_values(args, ("predictions", "out_dir", "kmer_baseline")))
    record = evaluate_predictions(cfg)
    print("\n".join([*notes(record), *result_lines(record)]))
    print(json.dumps({"out_dir": cfg.out_dir}))
    return 0
