"""``genomamba windows``: FASTA -> whole-genome uint8 tokens + windows manifest with train/val/test splits."""

from __future__ import annotations

import argparse
from pathlib import Path

# CLI flag -> WindowsConfig field; flags left unset fall back to --config, then to the dataclass defaults
_FLAGS = (
    "window_size", "stride", "min_tail", "max_n_frac", "split_by", "block_size", "val_frac", "test_frac",
    "val_chroms", "test_chroms", "seed",
)  # fmt: skip


def _chroms(text: str) -> list[str]:
    return [c for c in text.split(",") if c]


def register(sub: argparse._SubParsersAction) -> None:
    from genomamba.genome.windows import WindowsConfig  # light (numpy); help shows the dataclass's own defaults

    d = WindowsConfig()
    p = sub.add_parser(
        "windows",
        help="tokenize a genome and tile it into train/val/test windows",
        description="Tokenize every sequence of a FASTA (plain, gzip or BGZF) or GenBank/EMBL file once into a "
        "memory-mappable uint8 array, tile the sequences into windows, drop short tails and N-rich windows, assign "
        "train/val/test "
        "splits by chromosome or by chromosome blocks, and write the manifest, QC report and tokenizer "
        "(atomically).",
    )
    p.add_argument(
        "--fasta",
        required=True,
        metavar="NAME_OR_PATH",
        help="FASTA or GenBank/EMBL (.gb, .gbk, .embl; .gz allowed) path, or a name from `genomamba genomes`",
    )
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output windows directory")
    p.add_argument("--config", type=Path, metavar="YAML", help="WindowsConfig fields; flags override it")
    p.add_argument("--window-size", type=int, metavar="BP", help=f"window length (default {d.window_size})")
    p.add_argument("--stride", type=int, metavar="BP", help="distance between window starts (default: window size)")
    p.add_argument(
        "--min-tail", type=int, metavar="BP", help="keep a shorter last window if >= BP (default: window size / 16)"
    )
    p.add_argument("--max-n-frac", type=float, metavar="F", help=f"drop windows with more N (default {d.max_n_frac})")
    p.add_argument(
        "--split-by", choices=("block", "chromosome"), help=f"hold out blocks or chromosomes (default {d.split_by})"
    )
    p.add_argument("--block-size", type=int, metavar="BP", help="split block length (default: window size)")
    p.add_argument(
        "--val-frac", type=float, metavar="F", help=f"fraction of bases for validation (default {d.val_frac})"
    )
    p.add_argument("--test-frac", type=float, metavar="F", help=f"fraction of bases for test (default {d.test_frac})")
    p.add_argument("--val-chroms", type=_chroms, metavar="A,B", help="explicit validation sequences (chromosome split)")
    p.add_argument("--test-chroms", type=_chroms, metavar="A,B", help="explicit test sequences (chromosome split)")
    p.add_argument("--seed", type=int, help=f"seed for which blocks/chromosomes are held out (default {d.seed})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genomamba.atomic import check_output_dir
    from genomamba.config import flag_values, load_config
    from genomamba.genome.registry import resolve_genome
    from genomamba.genome.windows import QC_FILE, WindowsConfig, build_windows

    check_output_dir(args.out, QC_FILE)  # before the config, the genome and its index: nothing is built for a bad --out
    flags = flag_values(args, _FLAGS)
    if (args.val_chroms or args.test_chroms) and args.split_by is None:
        flags["split_by"] = "chromosome"  # explicit held-out chromosomes imply a chromosome split
    cfg = load_config(WindowsConfig, args.config, flags=flags)
    fasta, _ = resolve_genome(args.fasta)
    qc = build_windows(fasta, args.out, cfg, genome_name=args.fasta)
    splits = ", ".join(f"{s} {v['windows']}" for s, v in qc["splits"].items())
    dropped = ", ".join(f"{k} {v}" for k, v in qc["totals"]["dropped"].items())
    print(
        f"{args.out}: {qc['genome']['total_length']:,} bp in {qc['genome']['sequences']} sequence(s); "
        f"{qc['totals']['kept']} windows kept ({splits}); dropped: {dropped}"
    )
    return 0
