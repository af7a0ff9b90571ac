"""``genomamba make-task``: labeled intervals from a genome annotation (promoters, splice sites)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _chroms(text: str) -> tuple[str, ...]:
    return tuple(c for c in text.split(",") if c)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "make-task",
        help="build a labeled interval task (promoters, splice sites) from a GFF3/GTF annotation",
        description="Derive labeled windows from an annotation and write chrom, start, end (0-based half-open), "
        "strand, name, label, split as TSV (Parquet for .parquet). Windows are oriented (reverse-complemented on "
        "'-') with the site at offset window//2. Splits are by chromosome or chromosome block; elements "
        "overlapping an element of a more protected split are dropped, so no test element overlaps a training one. "
        "Fine-tune on it with data.path=<out> data.fasta=<genome>.",
    )
    p.add_argument("task", choices=("promoters", "splice-sites"))
    p.add_argument(
        "--genome",
        metavar="NAME_OR_FASTA",
        required=True,
        help="bundled genome name (its annotation is used unless --annotation) or a FASTA path",
    )
    p.add_argument("--annotation", type=Path, metavar="GFF", help="GFF3/GTF (gzip allowed)")
    p.add_argument("--out", required=True, type=Path, metavar="TSV", help="output table (.tsv, .tsv.gz, .parquet)")
    p.add_argument("--window", type=int, help="window length (default 300 promoters, 400 splice sites)")
    p.add_argument(
        "--background",
        choices=("gc-matched", "intergenic", "random"),
        default="gc-matched",
        help="promoters: background windows GC-matched anywhere away from TSSs (default), GC-matched "
        "outside transcripts, or unmatched random",
    )
    p.add_argument(
        "--negatives-per-positive",
        type=float,
        default=1.0,
        metavar="R",
        help="promoters: background windows per TSS window; splice sites: decoys per site (default 1)",
    )
    p.add_argument(
        "--transcript-types",
        default="mRNA,transcript",
        metavar="A,B",
        help="annotation feature types that are transcripts (default mRNA,transcript)",
    )
    p.add_argument("--split-by", choices=("block", "chromosome"), default="block")
    p.add_argument("--block-size", type=int, default=20000, metavar="BP", help="split block length (default 20000)")
    p.add_argument("--fractions", type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--val-chroms", type=_chroms, default=(), metavar="A,B", help="explicit validation chromosomes")
    p.add_argument("--test-chroms", type=_chroms, default=(), metavar="A,B", help="explicit test chromosomes")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genomamba.errors import GenomambaError
    from genomamba.finetune import task_table
    from genomamba.finetune.gff import read_transcripts
    from genomamba.finetune.promoters import PromoterTaskConfig, build_promoters
    from genomamba.finetune.splice_sites import SpliceTaskConfig, build_splice_sites
    from genomamba.genome.fasta import Genome
    from genomamba.genome.registry import resolve_genome

    fasta, gff = resolve_genome(args.genome)
    gff = args.annotation or gff
    if gff is None:
        raise GenomambaError("no annotation: pass --annotation GFF (a FASTA path has none bundled)", args.genome)
    split_by = "chromosome" if (args.val_chroms or args.test_chroms) else args.split_by
    split = task_table.SplitConfig(
        split_by=split_by,
        block_size=args.block_size,
        fractions=tuple(args.fractions),
        seed=args.seed,
        val_chroms=args.val_chroms,
        test_chroms=args.test_chroms,
    )
    genome = Genome(fasta)
    transcripts = read_transcripts(gff, tuple(t for t in args.transcript_types.split(",") if t))
    if args.task == "promoters":
        cfg = PromoterTaskConfig(
            window=args.window or 300,
            background=args.background,
            negatives_per_positive=args.negatives_per_positive,
            seed=args.seed,
        )
        table = build_promoters(genome, transcripts, cfg, split)
    else:
        cfg = SpliceTaskConfig(window=args.window or 400, decoys_per_site=args.negatives_per_positive, seed=args.seed)
        table = build_splice_sites(genome, transcripts, cfg, split)
    summary = task_table.task_summary(table)
    if summary["cross_split_overlaps"]:
        raise GenomambaError(f"internal: {summary['cross_split_overlaps']} cross-split overlaps remain", args.out)
    task_table.write_task(table, args.out)
    print(json.dumps({"out": str(args.out), "fasta": str(fasta), "annotation": str(gff), **summary}))
    return 0
