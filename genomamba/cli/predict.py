"""``genomamba predict``: per-sequence scores / probabilities of a fine-tuned checkpoint, to Parquet or TSV."""

from __future__ import annotations

import argparse

from genomamba.backends import BACKENDS

# PredictConfig fields that are flags of the same name; unset flags keep the dataclass defaults
_FLAGS = ("checkpoint", "out", "split", "input", "fasta", "flank", "sequence_column", "label_column")
_FLAGS += ("batch_size", "strands", "backend", "device")


def register(sub: argparse._SubParsersAction) -> None:
    from genomamba.finetune.config import PredictConfig  # light; help shows the dataclass's own defaults

    d = PredictConfig(checkpoint="", out="")
    p = sub.add_parser(
        "predict",
        help="score sequences with a fine-tuned checkpoint (Parquet or TSV)",
        description="Score one split of the checkpoint's own dataset, or a new table (--input; labels optional). "
        "Columns: id, split, label (null when absent), then score = P(positive) for binary tasks, prob_<class> for "
        "multi-class (plus pred = the arg-max class), or pred for regression. Provenance (checkpoint, dataset, "
        "split, task, classes, config) goes to <out>.json beside the table; `genomamba evaluate` reads both.",
    )
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="output of genomamba finetune")
    p.add_argument("--out", required=True, metavar="FILE", help=".parquet, .tsv or .tsv.gz")
    p.add_argument("--split", choices=("train", "val", "test", "all"), help=f"rows to score (default {d.split})")
    p.add_argument("--input", metavar="PATH", help="a different table/intervals file (same column options)")
    p.add_argument("--fasta", metavar="NAME_OR_PATH", help="reference for an interval --input")
    p.add_argument("--flank", type=int, help="context bases around intervals (default: as in training)")
    p.add_argument("--sequence-column", help="default: as in training")
    p.add_argument("--label-column", help="default: as in training (absent column: no labels)")
    p.add_argument("--batch-size", type=int, help=f"sequences per forward pass (default {d.batch_size})")
    p.add_argument("--strands", choices=("both", "forward"), help="default: the checkpoint's eval_strands")
    p.add_argument("--backend", choices=BACKENDS, help="scan backend")
    p.add_argument("--device", help=f"auto (CUDA when present, logged), cpu, cuda or cuda:N (default {d.device})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from genomamba.config import flag_values, load_config
    from genomamba.finetune.config import PredictConfig
    from genomamba.finetune.predict import predict

    print(json.dumps(predict(load_config(PredictConfig, flags=flag_values(args, _FLAGS)))))
    return 0
