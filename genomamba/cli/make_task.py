"""``genomamba make-task``: labeled intervals from a genome annotation (promoters, splice sites)."""

from __future__ import annotations

import argparse
from typing import get_args, get_type_hints

# flag -> MakeTaskConfig key; unset flags keep the dataclass defaults (--seed seeds the split and the task)
_FLAGS = {
    "task": "task",
    "genome": "genome",
    "out": "out",
    "annotation": "annotation",
    "transcript_types": "transcript_types",
    "split_by": "split.split_by",
    "block_size": "split.block_size",
    "fractions": "split.fractions",
    "val_chroms": "split.val_chroms",
    "test_chroms": "split.test_chroms",
    "seed": "split.seed",
}
_PROMOTER_FLAGS = {
    "window": "promoters.window",
    "seed": "promoters.seed",
    "background": "promoters.background",
    "negatives_per_positive": "promoters.negatives_per_positive",
}
_SPLICE_FLAGS = {
    "window": "splice_sites.window",
    "seed": "splice_sites.seed",
    "negatives_per_positive": "splice_sites.decoys_per_site",
}
_TASK_FLAGS = {"promoters": _PROMOTER_FLAGS, "splice-sites": _SPLICE_FLAGS, "coding-snvs": {"seed": "coding_snvs.seed"}}
# checked whatever the task, so a bad value is an error rather than silently unused
_CODING_FLAGS = {"per_class": "coding_snvs.per_class", "classes": "coding_snvs.classes"}


def _names(text: str) -> list[str]:
    return [c for c in text.split(",") if c]


def register(sub: argparse._SubParsersAction) -> None:
    # light imports; the help shows the dataclasses' own defaults
    from genomamba.finetune.task_config import (
        MAX_NEGATIVE_RATIO,
        CodingSnvTaskConfig,
        MakeTaskConfig,
        PromoterTaskConfig,
        SpliceTaskConfig,
        SplitConfig,
    )

    s, pr, sp, cs = SplitConfig(), PromoterTaskConfig(), SpliceTaskConfig(), CodingSnvTaskConfig()
    types = ",".join(MakeTaskConfig(task="promoters", genome="", out="").transcript_types)
    p = sub.add_parser(
        "make-task",
        help="build a labeled interval task (promoters, splice sites) or labelled coding SNVs from a GFF3/GTF",
        description="Derive labeled windows from an annotation and write chrom, start, end (0-based half-open), "
        "strand, name, label, split as TSV (.tsv, .tsv.gz) or Parquet (.parquet). Windows are oriented "
        "(reverse-complemented on '-') with the site at offset window//2. Splits are by chromosome or chromosome "
        "block; elements overlapping an element of a more protected split are dropped, so no test element "
        "overlaps a training one. Fine-tune on it with data.path=<out> data.fasta=<genome>. coding-snvs instead "
        "writes a VCF of SNVs in each gene's longest clean CDS, labelled synonymous, missense, stop_gained, "
        "start_lost or stop_lost by translating the changed codon (INFO CSQ, GENE, LABEL = 1 for the last three), "
        "sampled per class: a zero-shot check for score-vcf + evaluate-vep on any annotated genome.",
    )
    p.add_argument("task", choices=get_args(get_type_hints(MakeTaskConfig)["task"]))
    p.add_argument(
        "--genome",
        metavar="NAME_OR_FASTA",
        required=True,
        help="bundled genome name (its annotation is used unless --annotation) or a FASTA path",
    )
    p.add_argument("--annotation", metavar="GFF", help="GFF3/GTF (gzip allowed)")
    p.add_argument(
        "--out", required=True, metavar="PATH", help="output table (.tsv, .tsv.gz, .parquet); coding-snvs: .vcf(.gz)"
    )
    p.add_argument(
        "--window", type=int, help=f"window length (default {pr.window} promoters, {sp.window} splice sites)"
    )
    p.add_argument(
        "--background",
        choices=get_args(get_type_hints(PromoterTaskConfig)["background"]),
        help="promoters: background windows GC-matched anywhere away from TSSs, GC-matched outside transcripts, "
        f"or unmatched random (default {pr.background})",
    )
    p.add_argument(
        "--negatives-per-positive",
        type=float,
        metavar="R",
        help=f"promoters: background windows per TSS window (default {pr.negatives_per_positive:g}); splice "
        f"sites: decoys per site (default {sp.decoys_per_site:g}); at most {MAX_NEGATIVE_RATIO:g}",
    )
    p.add_argument(
        "--transcript-types",
        type=_names,
        metavar="A,B",
        help=f"annotation feature types that are transcripts (default {types})",
    )
    p.add_argument(
        "--split-by", choices=get_args(get_type_hints(SplitConfig)["split_by"]), help=f"default {s.split_by}"
    )
    p.add_argument("--block-size", type=int, metavar="BP", help=f"split block length (default {s.block_size})")
    p.add_argument(
        "--fractions",
        type=float,
        nargs=3,
        metavar=("TRAIN", "VAL", "TEST"),
        help=f"share of the elements per split (default {' '.join(f'{f:g}' for f in s.fractions)})",
    )
    p.add_argument("--val-chroms", type=_names, metavar="A,B", help="explicit validation chromosomes")
    p.add_argument("--test-chroms", type=_names, metavar="A,B", help="explicit test chromosomes")
    p.add_argument(
        "--per-class", type=int, metavar="N", help=f"coding-snvs: SNVs sampled per class (default {cs.per_class})"
    )
    p.add_argument(
        "--classes", type=_names, metavar="A,B", help=f"coding-snvs: classes written (default {','.join(cs.classes)})"
    )
    p.add_argument("--seed", type=int, help=f"seed of the split and of the task's sampling (default {s.seed})")
    p.set_defaults(func=run)


def _flags(args: argparse.Namespace) -> dict:
    """Typed MakeTaskConfig values of the flags the user set."""
    from genomamba.config import flag_values

    flags = flag_values(args, _FLAGS)
    flags.update(flag_values(args, _TASK_FLAGS[args.task]))
    flags.update(flag_values(args, _CODING_FLAGS))
    if (args.val_chroms or args.test_chroms) and args.split_by is None:
        flags["split.split_by"] = "chromosome"  # explicit held-out chromosomes imply a chromosome split
    return flags


def run(args: argparse.Namespace) -> int:
    import json

    from genomamba.config import load_config
    from genomamba.finetune.make_task import make_task
    from genomamba.finetune.task_config import MakeTaskConfig

    print(json.dumps(make_task(load_config(MakeTaskConfig, flags=_flags(args)))))
    return 0
