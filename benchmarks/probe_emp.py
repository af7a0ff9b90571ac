"""Frozen-embedding probe on the 10 GUE yeast EMP histone marks, next to the k-mer baseline and published numbers.

For every mark in ../shared/data/gue_subset/EMP, runs ``genomamba probe`` with the given checkpoint on the same
splits the fine-tuning config uses (configs/finetune/gue_emp.yaml: the visible dev.csv re-dealt 70/10/20 into
train/val/test with split seed 0; the official test split is held out and not available), and reports the probe's
test AUROC and MCC beside the k-mer baseline's on the same rows and the best published frozen-embedding AUROC
(Nat. Commun. 2025, Table 3). Published numbers use the official GUE splits: a ballpark, not like-for-like.

    python benchmarks/probe_emp.py --checkpoint results/pretrain/yeast_chrI/best
    python benchmarks/probe_emp.py --checkpoint CKPT --marks H3 --max-rows 200 --out /tmp/probe_smoke.json

``--max-rows`` keeps a random subset of each mark's rows (smoke tests). Every step is a real CLI call, listed in
the JSON under ``commands``. Without the shared data the script says so and exits 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

SHARED = Path(os.environ.get("GENOMAMBA_SHARED_DATA", ROOT.parent / "shared" / "data"))
EMP = SHARED / "gue_subset" / "EMP"
MARKS = ("H3", "H3K14ac", "H3K36me3", "H3K4me1", "H3K4me2", "H3K4me3", "H3K79me3", "H3K9ac", "H4", "H4ac")
# best frozen-embedding AUROC per mark in Nat. Commun. 2025 Table 3 (official GUE splits), where the table has it
PUBLISHED = {
    "H3": (0.9285, "Caduceus-Ph"),
    "H4": (0.9314, "DNABERT-2"),
    "H3K36me3": (0.7989, "DNABERT-2"),
    "H3K4me3": (0.6813, "DNABERT-2"),
    "H3K79me3": (0.8565, "DNABERT-2"),
}


def subsample(src: Path, dst: Path, max_rows: int, seed: int) -> int:
    """Keep ``max_rows`` random data rows of a gzipped CSV (header kept) -> rows written."""
    import numpy as np

    with gzip.open(src, "rt") as fh:
        header, *rows = fh.read().splitlines()
    keep = np.sort(np.random.default_rng(seed).permutation(len(rows))[:max_rows])
    dst.write_text("\n".join([header, *(rows[i] for i in keep)]) + "\n")
    return len(keep)


def run(cmd: list[str], log: list[str]) -> str:
    log.append(shlex.join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {shlex.join(cmd)}\n{proc.stderr[-2000:]}")
    return proc.stdout


def probe_mark(mark: str, args, tmp: Path, commands: list[str]) -> dict:
    data = EMP / mark
    if args.max_rows:
        data = tmp / mark
        data.mkdir()
        subsample(EMP / mark / "dev.csv.gz", data / "dev.csv", args.max_rows, args.seed)
    out = tmp / f"{mark}_probe"
    cmd = [sys.executable, "-m", "genomamba", "probe", "--checkpoint", args.checkpoint, "--data", str(data)]
    cmd += ["--data-config", str(ROOT / "configs/finetune/gue_emp.yaml"), "--out-dir", str(out)]
    cmd += ["--device", args.device, "--threads", str(args.threads)]
    t0 = time.perf_counter()
    run(cmd, commands)
    record = json.loads((out / "metrics.json").read_text())
    row: dict = {"mark": mark, "seconds": round(time.perf_counter() - t0, 1), "test_rows": record["probe"]["test_rows"]}
    for res in record["results"]:
        key = "probe" if res["model"] == "probe" else "kmer"
        row[f"{key}_auroc"], row[f"{key}_mcc"] = res["metrics"].get("auroc"), res["metrics"].get("mcc")
    row["published_auroc"], row["published_model"] = PUBLISHED.get(mark, (None, None))
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="any genomamba checkpoint (pretrained or fine-tuned)")
    ap.add_argument("--marks", default=",".join(MARKS), help="comma-separated subset of the 10 marks")
    ap.add_argument("--max-rows", type=int, default=0, help="random rows kept per mark (0 = all; smoke tests)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/probe_emp.json")
    ap.add_argument("--note", default="", help="conditions of the run (load, other jobs), kept in the JSON")
    args = ap.parse_args()
    if not EMP.is_dir():
        print(f"probe_emp: shared GUE EMP data not found at {EMP}; nothing to do", file=sys.stderr)
        return 0
    marks = [m for m in args.marks.split(",") if m]
    unknown = sorted(set(marks) - set(MARKS))
    if unknown:
        raise SystemExit(f"unknown marks {unknown}; choose from {', '.join(MARKS)}")
    commands: list[str] = []
    result = {
        "what": "frozen-embedding probe (mean-pooled, strands averaged; logistic, 5-fold CV on train+val) test AUROC "
        "and MCC per GUE EMP mark, k-mer baseline on the same rows; dev.csv re-dealt 70/10/20 (seed 0); published: "
        "best model of Nat. Commun. 2025 Table 3 on the official splits (ballpark only)",
        "checkpoint": args.checkpoint,
        "note": args.note,
        "max_rows": args.max_rows,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "threads": args.threads},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": [],
        "commands": commands,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i, mark in enumerate(marks):
            row = probe_mark(mark, args, Path(tmp), commands)
            result["rows"].append(row)
            result["complete"] = i + 1 == len(marks)  # written after every mark: a long run keeps what it measured
            result["loadavg"] = os.getloadavg()
            tmp_out = args.out.with_suffix(".json.tmp")
            tmp_out.write_text(json.dumps(result, indent=1) + "\n")
            os.replace(tmp_out, args.out)
            print(json.dumps(row), file=sys.stderr)
    print("mark\tprobe_auroc\tprobe_mcc\tkmer_auroc\tkmer_mcc\tpublished_auroc")
    for r in result["rows"]:
        cells = [r["probe_auroc"], r["probe_mcc"], r["kmer_auroc"], r["kmer_mcc"], r["published_auroc"]]
        print("\t".join([r["mark"], *("NA" if v is None else f"{v:.4f}" for v in cells)]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
