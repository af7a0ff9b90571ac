"""``genomamba summarize``: collect the headline metrics of a workflow run into one table."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "summarize",
        help="collect headline metrics from stage outputs into one table",
        description="Collect headline numbers from the JSON files of each stage into a text table and a JSON.",
    )
    p.add_argument(
        "--metrics",
        action="append",
        metavar="LABEL=FILE.json[:key,key]",
        help="a stage's JSON; optionally the dotted keys to report (default: every number)",
    )
    p.add_argument(
        "--out", metavar="TXT", help="text table, not .json (its .json twin is written beside it: summary.txt -> .json)"
    )
    p.add_argument("--plot-pretraining", metavar="DIR", help="a `genomamba pretrain` output directory")
    p.add_argument("--plot-out", metavar="PNG", help="where --plot-pretraining writes its figure (.png)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genomamba.config import flag_values, load_config
    from genomamba.metrics.summary import SummarizeConfig, run_summarize

    cfg = load_config(SummarizeConfig, flags=flag_values(args, ("metrics", "out", "plot_pretraining", "plot_out")))
    text = run_summarize(cfg)
    if text is not None:
        print(text, end="")
    return 0
