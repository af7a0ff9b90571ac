"""``genomamba evaluate-vep``: AUROC/AUPRC of variant scores against binary labels, with bootstrap CIs and plots."""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate-vep",
        help="AUROC/AUPRC of score-vcf outputs against labels (overall, per group, contrasts) + plots",
        description=(
            "Evaluate score-vcf outputs. Labels come from an INFO field / column (--label-field) or a TSV "
            "(--labels: chrom, pos, ref, alt, label[, group]). Writes DIR/vep_metrics.json, vep_metrics.tsv, "
            "roc.png, score_distributions.png. Lower scores count as more damaging unless --higher-is-positive."
        ),
    )
    p.add_argument("--scores", required=True, action="append", metavar="[NAME=]PATH",
                   help="score-vcf output (.vcf.gz/.bcf/.vcf/.tsv/.parquet); repeat to compare several")  # fmt: skip
    p.add_argument("--labels", help="labels TSV with columns chrom, pos, ref, alt, <label-field>[, <group-field>]")
    p.add_argument("--label-field", default=None, help="INFO field / column holding 0/1 labels (default: LABEL "
                   "in the scores file, or 'label' in --labels)")  # fmt: skip
    p.add_argument("--group-field", help="INFO field / column with a group per variant (e.g. CSQ)")
    p.add_argument("--contrast", action="append", default=[], metavar="POS:NEG",
                   help="group POS as positives vs group NEG as negatives, e.g. stop_gained:synonymous")  # fmt: skip
    p.add_argument("--score-field", default="GM_LLR", help="score INFO field (VCF) or column (default GM_LLR/llr)")
    p.add_argument("--higher-is-positive", action="store_true", help="larger score = positive (default: lower)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates (0 = no CIs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from genomamba.atomic import atomic_dir
    from genomamba.errors import GenomambaError
    from genomamba.vep.evaluate import attach_labels, evaluate, load_scores, write_report

    contrasts = []
    for item in args.contrast:
        a, sep, b = item.partition(":")
        if not sep or not a or not b:
            raise GenomambaError(f"--contrast {item!r} must look like POS_GROUP:NEG_GROUP")
        contrasts.append((a, b))
    if contrasts and not args.group_field:
        raise GenomambaError("--contrast needs --group-field (the field holding the classes)")
    tables = []
    for spec in args.scores:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = (Path(spec).name.split(".")[0] if len(args.scores) > 1 else "scores"), spec
        if args.labels:
            t = load_scores(path, name, args.score_field)
            attach_labels(t, args.labels, args.label_field or "label", args.group_field)
        else:
            t = load_scores(path, name, args.score_field, args.label_field or "LABEL", args.group_field)
        tables.append(t)
    report = evaluate(tables, contrasts, args.higher_is_positive, args.bootstrap, args.seed)
    with atomic_dir(args.out) as tmp:
        write_report(report, tables, contrasts, args.higher_is_positive, tmp)
    for row in report["results"]:
        ci = row.get("auroc_ci")
        ci_text = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        auroc = "NA" if row["auroc"] is None else f"{row['auroc']:.3f}"
        print(f"{row['scores']}\t{row['comparison']}\tn={row['n_pos']}+{row['n_neg']}\tAUROC {auroc}{ci_text}")
    print(f"evaluate-vep: wrote {args.out}/vep_metrics.json, vep_metrics.tsv, roc.png, score_distributions.png",
          file=sys.stderr)  # fmt: skip
    return 0
