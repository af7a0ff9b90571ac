"""``genomamba score-vcf``: zero-shot variant-effect scores for every ALT allele of a VCF/BCF."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import get_args

from genomamba.backends import BACKENDS

# CLI flag -> ScoreVcfConfig field; unset flags fall back to --config, then to the dataclass defaults
_FLAGS = (
    "context",
    "batch_size",
    "ref_check",
    "strands",
    "threads",
    "keep_info",
    "per_variant",
    "device",
    "kmer_baseline",
    "head_output",
    "score",
)


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def register(subparsers) -> None:
    from genomamba.devices import DEVICE_HELP
    from genomamba.vep.config import AUTO_BATCH_BASES, RefCheck, Score, ScoreVcfConfig, Strands

    d = ScoreVcfConfig()
    p = subparsers.add_parser(
        "score-vcf",
        help="score every ALT allele of a VCF/BCF with a pretrained checkpoint (or the k-mer baseline)",
        description=(
            "Zero-shot variant-effect scores: LLR = log P(alt) - log P(ref) at the variant, averaged over both "
            "strands (per-strand values kept). Output .vcf.gz (bgzip + tabix) / .bcf (CSI) / .vcf keeps every "
            "input record and adds INFO GM_LLR, GM_LLR_FWD, GM_LLR_REV, GM_KIND, GM_FLAG (Number=A); .tsv / "
            ".parquet give one row per ALT allele."
        ),
    )
    p.add_argument("--vcf", required=True, help="input .vcf, .vcf.gz (bgzip or gzip) or .bcf")
    p.add_argument("--fasta", required=True, help="reference FASTA (plain or bgzip) of the VCF, or a genome name")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--checkpoint",
        help="genomamba checkpoint directory: pretrained (zero-shot LLR) or fine-tuned sequence head "
        "(supervised: INFO GM_DELTA = prediction(alt) - prediction(ref)); `default`: the bundled model "
        "(genomamba models)",
    )
    src.add_argument(
        "--kmer-baseline",
        type=int,
        metavar="K",
        help="score with the two-sided k-mer baseline (K bases each side, fitted on --fasta) instead of a model",
    )
    p.add_argument("--out", required=True, help="output: .vcf.gz | .bcf | .vcf | .tsv | .parquet")
    p.add_argument(
        "--format",
        dest="out_format",
        choices=["vcf.gz", "bcf", "vcf", "tsv", "parquet"],
        help="output format (default: from the --out extension)",
    )
    p.add_argument(
        "--score",
        choices=get_args(Score),
        help=f"(default {d.score}) llr: log P(alt) - log P(ref); embedding-distance: 1 - cosine of the hidden "
        "states at the variant, ALT vs REF window (BEND's zero-shot protocol; SNVs only; INFO GM_EMBDIST)",
    )
    p.add_argument("--context", type=int, help=f"window length in bases (default {d.context})")
    p.add_argument(
        "--batch-size", type=int, help=f"sequences per forward pass (default: {AUTO_BATCH_BASES} // context)"
    )
    p.add_argument(
        "--ref-check",
        choices=get_args(RefCheck),
        help=f"REF that disagrees with the FASTA (default {d.ref_check}): error stops before scoring; warn flags "
        "REF_MISMATCH, leaves it unscored and logs it; skip does the same without log lines",
    )
    p.add_argument(
        "--strands",
        choices=get_args(Strands),
        help=f"(default {d.strands}) auto: both strands, except forward only for reverse-complement-equivariant "
        "scorers (fusion head, rc ps/posthoc, k-mer) whose reverse value is identical; both; forward",
    )
    p.add_argument("--regions", help="chr:start-end[,...] (1-based, VCF names) or a BED file")
    p.add_argument("--threads", type=int, help=f"torch and htslib threads (default {d.threads}: leave the defaults)")
    p.add_argument("--keep-info", type=_csv, metavar="A,B", help="INFO fields to copy into TSV/Parquet columns")
    p.add_argument(
        "--per-variant",
        action="store_true",
        default=None,
        help="one forward pass per variant instead of one per shared window (for comparisons)",
    )
    p.add_argument(
        "--head-output",
        type=int,
        help="fine-tuned (supervised) checkpoints: class / target index whose prediction change is the score "
        "(default: the last class)",
    )
    p.add_argument("--config", type=Path, metavar="YAML", help="ScoreVcfConfig fields; flags override it")
    p.add_argument("--backend", choices=BACKENDS, help="selective-scan backend")
    p.add_argument("--device", help=f"{DEVICE_HELP} (default {d.device}); the scan backend follows it")
    p.add_argument("--summary", help="also write the run summary as JSON here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    p.set_defaults(func=run)


def _summary_path(path: str | None, out: str) -> Path | None:
    """``--summary``, checked before any scoring: a bad name found only afterwards would fail the run with the
    scores already written, so a rerun would have to redo them or trust a run that reported an error."""
    from genomamba.atomic import check_output_path
    from genomamba.errors import GenomambaError

    if path is None:
        return None
    summary = check_output_path(path, (".json",))
    if summary.absolute() == Path(out).absolute():
        raise GenomambaError("is also --out: the summary needs a name of its own", summary)
    return summary


def run(args: argparse.Namespace) -> int:
    from genomamba.atomic import atomic_file
    from genomamba.config import flag_values, load_config
    from genomamba.genome.registry import resolve_genome
    from genomamba.vep import ScoreVcfConfig, score_vcf

    summary_path = _summary_path(args.summary, args.out)
    config = load_config(ScoreVcfConfig, args.config, flags=flag_values(args, _FLAGS))
    command = "genomamba " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    fasta, _ = resolve_genome(args.fasta)  # a FASTA path, or a genome name such as yeast_chrI
    summary = score_vcf(
        args.vcf,
        fasta,
        args.out,
        config,
        checkpoint=args.checkpoint,
        kmer=config.kmer_baseline,
        regions=args.regions,
        out_format=args.out_format,
        command=command,
        backend=args.backend,
        progress=False if args.no_progress else None,
        head_output=config.head_output,
    )
    flagged = ", ".join(f"{k} {v}" for k, v in summary["flagged_alleles"].items()) or "none"
    print(
        f"score-vcf: {summary['records']} records, {summary['alleles']} ALT alleles, "
        f"{summary['scored_alleles']} scored; flagged: {flagged}; "
        f"REF mismatches {summary['records_ref_mismatch']}, unknown contigs "
        f"{summary['unknown_contigs'] or 'none'}; {summary['seconds']:.1f} s -> {summary['output']}",
        file=sys.stderr,
    )
    if summary_path is not None:
        with atomic_file(summary_path) as tmp:
            tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return 0
