"""``genomamba evaluate-vep``: AUROC/AUPRC of variant scores against binary labels, with bootstrap CIs and plots."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# CLI flag -> EvaluateVepConfig field; unset flags fall back to --config, then to the dataclass defaults
_FLAGS = {
    "score_field": "score_field",
    "label_field": "label_field",
    "group_field": "group_field",
    "contrast": "contrasts",
    "higher_is_positive": "higher_is_positive",
    "bootstrap": "bootstrap",
    "seed": "seed",
}


def register(subparsers) -> None:
    from genomamba.vep.config import LABEL_FIELD, LABELS_TSV_COLUMN, MAX_BOOTSTRAP, EvaluateVepConfig

    d = EvaluateVepConfig()
    p = subparsers.add_parser(
        "evaluate-vep",
        help="AUROC/AUPRC of score-vcf outputs against labels (overall, per group, contrasts) + plots",
        description=(
            "Evaluate score-vcf outputs. Labels come from an INFO field / column (--label-field) or a TSV "
            "(--labels: chrom, pos, ref, alt, label[, group]). Writes DIR/vep_metrics.json, vep_metrics.tsv, "
            "roc.png, score_distributions.png. Lower scores count as more damaging unless --higher-is-positive."
        ),
    )
    p.add_argument(
        "--scores",
        required=True,
        action="append",
        metavar="[NAME=]PATH",
        help="score-vcf output (.vcf.gz/.bcf/.vcf/.tsv/.parquet); repeat to compare several",
    )
    p.add_argument("--labels", help="labels TSV with columns chrom, pos, ref, alt, <label-field>[, <group-field>]")
    p.add_argument(
        "--label-field",
        help=f"INFO field / column holding 0/1 labels (default: {LABEL_FIELD} in the scores file, "
        f"{LABELS_TSV_COLUMN!r} in --labels)",
    )
    p.add_argument("--group-field", help="INFO field / column with a group per variant (e.g. CSQ)")
    p.add_argument(
        "--contrast",
        action="append",
        metavar="POS:NEG",
        help="group POS as positives vs group NEG as negatives, e.g. stop_gained:synonymous",
    )
    p.add_argument(
        "--score-field", help=f"score INFO field (VCF) or column (default {d.score_field}; column llr/delta)"
    )
    p.add_argument(
        "--higher-is-positive", action="store_true", default=None, help="larger score = positive (default: lower)"
    )
    p.add_argument(
        "--bootstrap", type=int, help=f"bootstrap replicates, 0..{MAX_BOOTSTRAP}; 0 = no CIs (default {d.bootstrap})"
    )
    p.add_argument("--seed", type=int, help=f"bootstrap seed (default {d.seed})")
    p.add_argument("--config", type=Path, metavar="YAML", help="EvaluateVepConfig fields; flags override it")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genomamba.config import flag_values, load_config
    from genomamba.vep import EvaluateVepConfig, evaluate_vep

    config = load_config(EvaluateVepConfig, args.config, flags=flag_values(args, _FLAGS))
    report = evaluate_vep(args.scores, args.out, config, labels=args.labels)
    for row in report["results"]:
        ci = row.get("auroc_ci")
        ci_text = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        auroc = "NA" if row["auroc"] is None else f"{row['auroc']:.3f}"
        print(f"{row['scores']}\t{row['comparison']}\tn={row['n_pos']}+{row['n_neg']}\tAUROC {auroc}{ci_text}")
    outputs = "vep_metrics.json, vep_metrics.tsv, roc.png, score_distributions.png"
    print(f"evaluate-vep: wrote {args.out}/{outputs}", file=sys.stderr)
    return 0
