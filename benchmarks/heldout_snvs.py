"""Zero-shot coding-SNV AUROCs of a checkpoint on genomes whose SNVs no scoring choice was tuned on.

The dev SNV sets (``../shared/data/vep_consequence_snvs_dev``) cover the three focal chromosomes, and every scoring
choice so far was looked at on them. This benchmark labels fresh SNVs on the annotated relatives' chromosomes
(``genomamba make-task coding-snvs``: each gene's longest clean CDS, synonymous / missense / stop_gained by the
changed codon), scores them with the checkpoint and with the two-sided k-mer LLR (``score-vcf``), and reports
per genome and contrast the AUROC (lower score = more damaging) of

* the model LLR (what ``score-vcf`` writes),
* the k-mer LLR,
* the model LLR minus ``alpha`` x the k-mer LLR for each ``--alphas`` value: a local-context correction that removes
  the part of the likelihood ratio a k-mer model already explains (mutation-context and composition effects),

with a paired bootstrap 95 % CI of each corrected score's difference from the model LLR (same SNVs, resampled
together). A correction is worth offering only if it wins here, on SNVs it was not chosen on.

    python benchmarks/heldout_snvs.py                          # the bundled default model, 6 relatives
    python benchmarks/heldout_snvs.py --checkpoint results/x/best --genomes dsim_chr4 skud_chr1 --per-class 100
    python benchmarks/heldout_snvs.py --gpn-model results/gpn_peer140/gpn_model --work results/heldout_snvs_gpn \
        --out benchmarks/results/heldout_snvs_gpn.json                # the GPN peer on the same SNVs
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipe import KMER_K, ROOT, Runner, machine, read_labelled_json, read_scores, write_json  # noqa: E402

PEERS = Path(__file__).resolve().parent / "peers"
RELATIVES = ["dsim_chr4", "dsec_chr4", "dmau_chr4", "aare_chr1_2", "skud_chr1", "smik_chr1"]
CLADE = {"dsim_chr4": "fly", "dsec_chr4": "fly", "dmau_chr4": "fly", "aare_chr1_2": "Arabidopsis",
         "skud_chr1": "yeast", "smik_chr1": "yeast"}  # fmt: skip
CONTRASTS = {"stop_gained_vs_synonymous": "stop_gained", "missense_vs_synonymous": "missense"}


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="default", help="checkpoint folder or a bundled model name")
    ap.add_argument("--gpn-model", type=Path, metavar="DIR",
                    help="score with the GPN peer's saved weights (e.g. results/gpn_peer140/gpn_model): its masked "
                    "LLR at 512 bp (peers/gpn_train.py --rescore) instead of --checkpoint")  # fmt: skip
    ap.add_argument("--genomes", nargs="+", default=RELATIVES, help="annotated genome names (genomamba genomes)")
    ap.add_argument("--per-class", type=int, default=300, help="SNVs per class (synonymous, missense, stop_gained)")
    ap.add_argument("--context", type=int, default=1024, help="score-vcf --context (the model's training length)")
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.5, 1.0], help="k-mer LLR weights to subtract")
    ap.add_argument("--seed", type=int, default=0, help="make-task --seed (which SNVs are drawn)")
    ap.add_argument("--bootstrap", type=int, default=1000, help="paired bootstrap replicates (0: no CIs)")
    ap.add_argument("--work", type=Path, default=ROOT / "results" / "heldout_snvs")
    ap.add_argument("--out", type=Path, help="result JSON (default benchmarks/results/heldout_snvs.json; with "
                    "--compare: none, the table is only printed)")  # fmt: skip
    ap.add_argument("--table", action="store_true", help="print the README table of --out and stop")
    ap.add_argument(
        "--compare",
        nargs="+",
        metavar="LABEL=JSON",
        help="finished runs of this benchmark (checkpoints on the same SNVs) side by side into --out",
    )
    args = ap.parse_args(argv)
    for name, lo, hi in (("per_class", 10, 100_000), ("context", 16, 1 << 20), ("bootstrap", 0, 100_000)):
        if not lo <= getattr(args, name) <= hi:
            ap.error(f"--{name.replace('_', '-')} {getattr(args, name)}: expected {lo} .. {hi}")
    if any(not 0 < a <= 2 for a in args.alphas):
        ap.error(f"--alphas {args.alphas}: each must be in (0, 2]")
    return args


def aurocs(model: dict, kmer: dict, alphas: list[float], n_boot: int) -> dict:
    """Per contrast: AUROC of the model LLR, the k-mer LLR and each corrected score, and each corrected score's
    paired difference from the model LLR with its CI."""
    from genomamba.metrics.ranking import auroc, finite, paired_auroc_ci

    if not np.array_equal(model["key"], kmer["key"]):
        raise SystemExit("the model's and the k-mer's score tables list different SNVs")
    out = {}
    for name, positive in CONTRASTS.items():
        ok = np.isin(model["csq"], [positive, "synonymous"]) & np.isfinite(model["score"]) & np.isfinite(kmer["score"])
        y = (model["csq"][ok] == positive).astype(np.int64)
        m, k = model["score"][ok], kmer["score"][ok]
        row = {"n_pos": int(y.sum()), "n_neg": int(y.size - y.sum()), "model": finite(auroc(y, -m), 4),
               "kmer": finite(auroc(y, -k), 4), "corrected": {}}  # fmt: skip
        for a in alphas:
            corrected = auroc(y, -(m - a * k))
            p = paired_auroc_ci(y, -(m - a * k), -m, n_boot, seed=0) if n_boot else None
            row["corrected"][f"{a:g}"] = {
                "auroc": finite(corrected, 4),
                "minus_model": finite(corrected - auroc(y, -m), 4),
                "minus_model_ci": [round(c, 4) for c in p["difference_ci"]] if p and p["difference_ci"] else None,
            }
        out[name] = row
    return out


def table(data: dict) -> str:
    alphas = data["alphas"]
    head = ["genome (clade)", "contrast", "n", "model LLR", "k-mer LLR"]
    head += [f"LLR - {a:g} x k-mer (Δ, 95 % CI)" for a in alphas]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for g, res in data["genomes"].items():
        for c, row in res["contrasts"].items():
            cells = [f"{g} ({CLADE.get(g, '?')})", c.replace("_vs_", " vs "), f"{row['n_pos']}+{row['n_neg']}",
                     f"{row['model']:.3f}", f"{row['kmer']:.3f}"]  # fmt: skip
            for a in alphas:
                x = row["corrected"][f"{a:g}"]
                ci = f" [{x['minus_model_ci'][0]:+.3f}, {x['minus_model_ci'][1]:+.3f}]" if x["minus_model_ci"] else ""
                cells.append(f"{x['auroc']:.3f} ({x['minus_model']:+.3f}{ci})")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare(runs: dict[str, dict]) -> dict:
    """Several checkpoints' runs on the same SNVs (same genomes, per-class count and seed): model-LLR AUROC per
    genome and contrast, side by side."""
    wrong = [label for label, d in runs.items() if not {"per_class", "seed", "genomes", "checkpoint"} <= d.keys()]
    if wrong:
        raise SystemExit(f"--compare {', '.join(wrong)}: not the JSON of one heldout_snvs.py run "
                         "(a --compare table, or another benchmark's)")  # fmt: skip
    keys = {(d["per_class"], d["seed"], tuple(d["genomes"])) for d in runs.values()}
    if len(keys) != 1:
        raise SystemExit(f"--compare: the runs scored different SNVs (per_class, seed, genomes): {sorted(keys)}")
    first = next(iter(runs.values()))
    rows = {
        f"{g}/{c}": {label: d["genomes"][g]["contrasts"][c]["model"] for label, d in runs.items()}
        for g in first["genomes"]
        for c in CONTRASTS
    }
    return {"what": "model-LLR AUROC of several checkpoints on the same held-out coding SNVs",
            "checkpoints": {label: d["checkpoint"] for label, d in runs.items()}, "per_class": first["per_class"],
            "seed": first["seed"], "auroc": rows}  # fmt: skip


def compare_table(data: dict) -> str:
    labels = list(data["checkpoints"])
    lines = ["| genome / contrast | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    for key, row in data["auroc"].items():
        g, c = key.split("/")
        best = max((v for v in row.values() if v is not None), default=None)
        text = {x: "n/a" if v is None else f"**{v:.3f}**" if v == best else f"{v:.3f}" for x, v in row.items()}
        cells = [text[x] for x in labels]
        lines.append(f"| {g} ({CLADE.get(g, '?')}) {c.split('_vs_')[0]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    import json

    args = parse_args(argv)
    if args.out is None and not args.compare:  # a comparison never overwrites the scored result by default
        args.out = ROOT / "benchmarks" / "results" / "heldout_snvs.json"
    if args.table:
        data = json.loads(args.out.read_text())
        print(compare_table(data) if "checkpoints" in data else table(data))
        return 0
    if args.compare:
        data = compare(read_labelled_json(args.compare))
        if args.out is not None:
            write_json(args.out, data)
        print(compare_table(data))
        return 0
    run = Runner()
    t0 = time.time()
    results = {}
    for genome in args.genomes:
        vcf = args.work / f"{genome}.coding.vcf"
        args.work.mkdir(parents=True, exist_ok=True)
        classes = ",".join(["synonymous", *CONTRASTS.values()])
        run.genomamba("-q", "make-task", "coding-snvs", "--genome", genome, "--out", vcf, "--per-class",
                      str(args.per_class), "--classes", classes, "--seed", str(args.seed))  # fmt: skip
        common = ["-q", "score-vcf", "--vcf", vcf, "--fasta", genome, "--keep-info", "CSQ", "--no-progress"]
        model_tsv, kmer_tsv = args.work / f"{genome}.model.tsv", args.work / f"{genome}.kmer.tsv"
        if args.gpn_model:
            run.run([sys.executable, PEERS / "gpn_train.py", "--rescore", args.gpn_model, "--genome", genome,
                     "--vcf", vcf, "--out", model_tsv, "--work", args.work / "gpn"])  # fmt: skip
        else:
            run.genomamba(*common, "--checkpoint", args.checkpoint, "--context", str(args.context), "--threads", "1",
                          "--out", model_tsv)  # fmt: skip
        run.genomamba(*common, "--kmer-baseline", str(KMER_K), "--out", kmer_tsv)
        results[genome] = {
            "clade": CLADE.get(genome),
            "contrasts": aurocs(read_scores(model_tsv), read_scores(kmer_tsv), args.alphas, args.bootstrap),
        }
    data = {
        "what": "zero-shot AUROC (lower score = damaging) on coding SNVs labelled by make-task coding-snvs on genomes "
        "no scoring choice was tuned on: the model LLR, the two-sided k-mer LLR, and the model LLR minus alpha x the "
        "k-mer LLR, with the paired bootstrap 95 % CI of its difference from the model LLR",
        "checkpoint": f"GPN peer {args.gpn_model}" if args.gpn_model else args.checkpoint,
        "context": 512 if args.gpn_model else args.context,
        "kmer_k": KMER_K,
        "per_class": args.per_class,
        "seed": args.seed,
        "alphas": args.alphas,
        "machine": machine(1),
        "seconds": round(time.time() - t0, 1),
        "genomes": results,
        "commands": run.commands,
    }
    write_json(args.out, data)
    print(table(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
