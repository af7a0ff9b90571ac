"""``genomamba summarize``: collect the headline metrics of a workflow run into one table."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "summarize",
        help="collect headline metrics from stage outputs into one table",
        description="Collect headline numbers from the JSON files of each stage into a text table and a JSON.",
    )
    p.add_argument(
        "--metrics",
        action="append",
        default=[],
        metavar="LABEL=FILE.json[:key,key]",
        help="a stage's JSON; optionally the dotted keys to report (default: every number)",
    )
    p.add_argument("--out", type=Path, help="text table (a .json twin is written beside it)")
    p.add_argument("--plot-pretraining", type=Path, metavar="DIR", help="a `genomamba pretrain` output directory")
    p.add_argument("--plot-out", type=Path, metavar="PNG", help="where --plot-pretraining writes its figure")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genomamba.errors import GenomambaError
    from genomamba.metrics.summary import plot_pretraining, summarize

    if args.plot_pretraining is not None:
        if args.plot_out is None:
            raise GenomambaError("--plot-pretraining needs --plot-out")
        plot_pretraining(args.plot_pretraining, args.plot_out)
    if args.out is None:
        if args.metrics:
            raise GenomambaError("--metrics needs --out")
        return 0

    items = []
    for spec in args.metrics:
        label, sep, rest = spec.partition("=")
        if not sep or not rest:
            raise GenomambaError(f"--metrics {spec!r} is not LABEL=FILE.json[:keys]")
        path, _, keys = rest.partition(":")
        items.append((label, Path(path), [k for k in keys.split(",") if k]))
    summarize(items, args.out, args.out.with_suffix(".json"))
    print(args.out.read_text(), end="")
    return 0
