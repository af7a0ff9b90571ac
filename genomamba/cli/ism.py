"""``genomamba ism``: saturation mutagenesis of a region (every position, every alternative base)."""

from __future__ import annotations

import argparse
from pathlib import Path

from genomamba.backends import BACKENDS

# CLI flag -> IsmConfig field; unset flags fall back to --config, then to the dataclass defaults
_FLAGS = ("context", "strands", "batch_size", "per_variant", "head_output", "max_bases", "device", "threads")


def register(sub: argparse._SubParsersAction) -> None:
    from genomamba.devices import DEVICE_HELP
    from genomamba.infer.config import IsmConfig

    d = IsmConfig()
    p = sub.add_parser(
        "ism",
        help="saturation mutagenesis of a region: every SNV's LLR (zero-shot) or prediction change (fine-tuned)",
        description="Score all three alternative bases at every position of the regions exactly as score-vcf would "
        "score those SNVs (same windows and strands): a pretrained LM gives LLR = log P(alt) - log P(ref) (fusion "
        "head: one pass per tile covers every position and base), a fine-tuned sequence head gives delta = "
        "prediction(alt) - prediction(ref). Writes ism.parquet (one row per SNV), min.bw and mean.bw (per-position "
        "minimum / mean over the alternatives) and ism.json into --out.",
    )
    p.add_argument("--checkpoint", required=True, type=Path, metavar="DIR", help="pretrained or fine-tuned checkpoint")
    p.add_argument("--fasta", required=True, metavar="NAME_OR_PATH", help="reference FASTA or a genome name")
    p.add_argument("--regions", required=True, metavar="SPEC", help="chr:start-end[,...] (1-based inclusive) or BED")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory (written atomically)")
    p.add_argument("--config", type=Path, metavar="YAML", help="IsmConfig fields; flags override it")
    p.add_argument("--context", type=int, help=f"window length in bases, as score-vcf (default {d.context})")
    p.add_argument("--strands", choices=("auto", "both", "forward"), help=f"as score-vcf (default {d.strands})")
    p.add_argument("--batch-size", type=int, help="windows per forward pass (default: as score-vcf)")
    p.add_argument(
        "--per-variant",
        action="store_true",
        default=None,
        help="one pass per variant instead of one per tile (for comparisons; same scores, slower)",
    )
    p.add_argument("--head-output", type=int, help="fine-tuned heads: class / target index (default: the last)")
    p.add_argument("--max-bases", type=int, help=f"refuse larger regions (default {d.max_bases})")
    p.add_argument("--device", help=f"{DEVICE_HELP} (default {d.device})")
    p.add_argument("--threads", type=int, help=f"torch threads (default {d.threads}: leave the default)")
    p.add_argument("--backend", choices=BACKENDS, help="scan backend (default: follows the device)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from genomamba.atomic import check_output_dir
    from genomamba.config import flag_values, load_config
    from genomamba.finetune.datasets import open_genome
    from genomamba.infer.config import IsmConfig
    from genomamba.infer.ism_run import ISM_JSON, run_ism
    from genomamba.infer.regions import parse_regions

    check_output_dir(args.out, ISM_JSON)  # before the genome is opened and the regions read
    cfg = load_config(IsmConfig, args.config, flags=flag_values(args, _FLAGS))
    with open_genome(args.fasta) as genome:
        regions = parse_regions(args.regions, genome)
        record = run_ism(args.checkpoint, genome, regions, args.out, cfg, args.backend)
    keys = ("bases", "rows", "score", "sequences_scored", "seconds", "device")
    print(json.dumps({"out": str(args.out), **{k: record[k] for k in keys}}))
    return 0
