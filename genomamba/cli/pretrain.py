"""``genomamba pretrain``: train a model on a windows directory; writes a self-describing checkpoint directory."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "pretrain",
        help="pretrain a model on a windows directory (Lightning; CPU, GPU, DDP)",
        description=(
            "Pretrain on the output of `genomamba windows` (one genome, or several sampled by weight). Writes "
            "OUT/best and OUT/last (model directories for finetune/score), OUT/lightning/last.ckpt (for --resume), "
            "OUT/logs, OUT/baselines.json and OUT/summary.json (bits/base of the model vs k-mer baselines on the "
            "same val/test tiles, per genome)."
        ),
    )
    p.add_argument("--config", help="pretraining YAML (e.g. configs/pretrain/demo.yaml); defaults otherwise")
    p.add_argument(
        "--windows",
        action="append",
        type=_source,
        metavar="[NAME=]DIR[:WEIGHT]",
        help="directory written by `genomamba windows`; repeat for several genomes, each NAME=DIR:WEIGHT "
        "(sampling weight, default 1; see data.temperature). Default: the config's data.sources",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from lightning/last.ckpt")
    p.add_argument(
        "--progress-bar", action=argparse.BooleanOptionalAction, default=None, help="default: on when stderr is a TTY"
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. trainer.max_steps=50")
    p.set_defaults(func=run)


def _source(text: str):
    """argparse type of --windows: a bad spec is argparse's one-line usage error, exit 2."""
    from genomamba.errors import GenomambaError
    from genomamba.pretrain.sources import parse_source_spec

    try:
        return parse_source_spec(text)
    except GenomambaError as exc:
        raise argparse.ArgumentTypeError(exc.problem) from None


def run(args: argparse.Namespace) -> int:
    from genomamba.config import flag_values
    from genomamba.pretrain.config import load_pretrain_config
    from genomamba.pretrain.report import format_table
    from genomamba.pretrain.run import run_pretraining

    cfg, model_cfg = load_pretrain_config(args.config, args.overrides, flag_values(args, {"windows": "data.sources"}))
    summary = run_pretraining(cfg, model_cfg, None, args.out, args.resume, args.progress_bar)
    if summary:
        print(f"pretrained {summary['steps']} steps in {summary['wall_seconds']:.0f} s -> {args.out}")
        print(format_table(summary))
    return 0
