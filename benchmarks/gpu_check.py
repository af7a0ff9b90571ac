"""The GPU check of issue 15: tests, scan benchmark, training throughput, a short pretraining run and variant-scoring
throughput, in one command, each step in its own process with its own time budget (docs/gpu.md).

    bash benchmarks/gpu_check.sh                       # on the device: writes to $OUT (see the .sh)
    bash benchmarks/gpu_check.sh --dry-run             # on a CPU: every step on tiny shapes, one iteration
    python benchmarks/gpu_check.py --prep              # CPU side, before the call: pretraining and scoring inputs
    python benchmarks/gpu_check.py --device-command    # the `run` command line and carry list for the device tool

Writes into --out: gpu_check.json (every step: status, reason, budget, seconds, its records, its log tail; valid
against gpu_check.schema.json), summary.txt (the headline numbers), pytest.log and steps.log. A step that fails,
crashes or runs out of time is recorded as such and the next step runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from gpu_report import finite, headline, validate, write_report

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
PREP_DIR = Path("results/gpu-prep")  # ignored by .gitignore's /results/; the device call carries it
STEPS = ("env", "tests", "scan", "train", "pretrain", "score_vcf")
# seconds per step on the device; pretraining gets its minutes plus start-up, final validation and test
BUDGETS = {"env": 10, "tests": 90, "scan": 80, "train": 50, "pretrain": None, "score_vcf": 30}
PRETRAIN_EXTRA_S = 40
DEVICE_TIMEOUT_S = 580
OUT_FILES = ("gpu_check.json", "summary.txt", "pytest.log", "steps.log")


def budgets(args, dry: bool) -> dict[str, float]:
    """Seconds per step: the device budgets, or 120 s each for a dry run; --budget overrides either."""
    b = {k: float(v) if v is not None else args.pretrain_minutes * 60 + PRETRAIN_EXTRA_S for k, v in BUDGETS.items()}
    if dry:
        b = dict.fromkeys(b, 120.0)
    for item in args.budget or []:
        name, _, secs = item.partition("=")
        if name not in b or not secs:
            raise SystemExit(f"--budget {item!r}: expected STEP=SECONDS with STEP one of {', '.join(STEPS)}")
        b[name] = float(secs)
    return b


# ------------------------------------------------------------------------------------------------ one step


def step_main(args) -> int:
    """Child process: run one step, append its records and a final summary (or the traceback) as JSON lines."""
    sys.path.insert(0, str(BENCH))
    records = Path(args.records)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    def emit(rec: dict) -> None:
        line = json.dumps(finite(rec))
        with records.open("a") as fh:
            fh.write(line + "\n")
        print(line[:400], file=sys.stderr, flush=True)  # steps.log: progress, and what a killed step got to

    try:
        import gpu_steps

        name, dry = args.run_step, args.dry_run
        if name == "env":
            summary = gpu_steps.run_env(emit, dry)
        elif name == "tests":
            summary = gpu_steps.run_tests(emit, dry, Path(args.out) / "pytest.log", work, args.step_budget)
        elif name == "scan":
            import gpu_scan_step

            summary = gpu_scan_step.run_step(emit, dry, args.step_budget)
        elif name == "train":
            summary = gpu_steps.run_train(emit, dry, args.step_budget)
        elif name == "pretrain":
            import gpu_pretrain

            summary = gpu_pretrain.run_pretrain(emit, dry, Path(args.windows), args.pretrain_minutes, work)
        else:
            import gpu_vep

            summary = gpu_vep.run_step(emit, dry, args.step_budget, Path(args.prep_dir))
        emit({"final": summary})
        return 0
    except BaseException:
        emit({"crash": traceback.format_exc()[-4000:]})
        return 1


def _block_dir(work: Path) -> Path:
    """Stub packages that fail to import like missing ones: a CPU dry run sees what the device machine lacks."""
    import gpu_steps

    root = work / "absent"
    for name in gpu_steps.ABSENT_ON_DEVICE:
        (root / name).mkdir(parents=True, exist_ok=True)
        msg = f"No module named {name!r} (the GPU check's dry run hides it: the device machine lacks it)"
        (root / name / "__init__.py").write_text(f"raise ModuleNotFoundError({msg!r}, name={name!r})\n")
    return root


def _child_env(args, work: Path) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    path = [str(ROOT)]
    if args.dry_run:
        path.insert(0, str(_block_dir(work)))
        env.update(TRITON_INTERPRET="1", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join([*path, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _status(final: dict, records: list[dict]) -> tuple[str, str | None]:
    if final.get("status"):
        return final["status"], final.get("reason")
    bad = [r for r in records if r.get("status") in ("error", "wrong", "failed")]
    if bad:
        kinds = sorted({f"{r.get('kind')}:{r['status']}" for r in bad})
        return "failed", f"{len(bad)} record(s) not ok ({', '.join(kinds)})"
    return "ok", None


def run_step(name: str, args, budget: float, work: Path, out: Path) -> dict:
    """Parent side: one step in a fresh process group with a hard time limit; what it wrote is kept either way."""
    records_file = work / f"{name}.jsonl"
    cmd = [sys.executable, __file__, "--run-step", name, "--records", str(records_file), "--work", str(work / name)]
    cmd += ["--out", str(out), "--step-budget", str(budget), "--windows", str(args.windows)]
    cmd += ["--prep-dir", str(args.prep_dir)]
    cmd += ["--pretrain-minutes", str(args.pretrain_minutes)] + (["--dry-run"] if args.dry_run else [])
    log = out / "steps.log"
    with log.open("a") as fh:
        fh.write(f"\n===== step {name} (budget {budget:.0f} s)\n")
        start = fh.tell()
        fh.flush()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=_child_env(args, work), stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        try:
            rc = proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the step and whatever it started (pytest, compile workers)
            proc.wait()
            rc = None
    seconds = time.perf_counter() - t0
    with log.open() as fh:
        fh.seek(start)
        tail = fh.read()[-3000:]
    lines = records_file.read_text().splitlines() if records_file.is_file() else []
    rows = [json.loads(ln) for ln in lines if ln.strip()]
    final = next((r["final"] for r in rows if "final" in r), None)
    crash = next((r["crash"] for r in rows if "crash" in r), None)
    records = [r for r in rows if "final" not in r and "crash" not in r]
    if rc is None:
        status, reason = "timeout", f"stopped after its budget of {budget:.0f} s"
    elif final is None:
        status, reason = "error", (crash or f"exit code {rc}").strip().splitlines()[-1][:500]
    else:
        status, reason = _status(final, records)
    res = {"status": status, "reason": reason, "budget_s": budget, "seconds": seconds, "returncode": rc}
    res.update(summary=final or {}, records=records, log_tail=tail)
    if crash:
        res["traceback"] = crash
    return res


# ------------------------------------------------------------------------------------------------ the report


def make_plan(args, b: dict, dry: bool) -> dict:
    """What each step runs (``dry``: its tiny CPU version), with its budget."""
    import gpu_pretrain
    import gpu_scan_step
    import gpu_steps
    import gpu_vep

    minutes = args.pretrain_minutes
    items = {
        "env": "GPU name, memory, multiprocessors, nvidia-smi, torch/triton/CUDA versions, optional packages",
        "tests": gpu_steps.test_selection() | {"dry_run": "collect only"},
        "scan": gpu_scan_step.describe(gpu_scan_step.plan(dry)),
        "train": gpu_steps.train_points(dry) | {"autocast": "bf16 on CUDA", "peak_memory": "max_memory_allocated"},
        "pretrain": {**gpu_pretrain.genome_setup(dry), "config": gpu_pretrain.pretrain_config(dry, minutes)},
        "score_vcf": gpu_vep.plan(dry) | {"what": "variants/s of the score-vcf engine, --device cuda vs cpu"},
    }
    return {name: {"budget_s": b[name], "items": items[name]} for name in STEPS}


def skipped_step(reason: str, budget: float) -> dict:
    return {"status": "skipped", "reason": reason, "budget_s": budget, "seconds": 0.0, "returncode": None,
            "summary": {}, "records": [], "log_tail": ""}  # fmt: skip


def _commit() -> str | None:
    if os.environ.get("GENOMAMBA_COMMIT"):
        return os.environ["GENOMAMBA_COMMIT"]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return head.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def check(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in OUT_FILES:
        (out / name).unlink(missing_ok=True)
    b = budgets(args, args.dry_run)
    selected = args.steps.split(",") if args.steps else list(STEPS)
    if set(selected) - set(STEPS):
        raise SystemExit(f"--steps: unknown {sorted(set(selected) - set(STEPS))}; steps are {', '.join(STEPS)}")
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    doc: dict = {
        "schema_version": 1,
        "dry_run": args.dry_run,
        "started_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "commit": _commit(),
        "device": {},
        "plan": make_plan(args, budgets(args, False), dry=False),
        "prep": None,
        # every step is listed from the start, so a report cut short by the call's time limit is still complete
        "steps": {name: skipped_step("not reached: the check ended before this step", b[name]) for name in STEPS},
    }
    if args.dry_run:
        doc["dry_plan"] = make_plan(args, b, dry=True)
        args.windows, args.prep_dir, doc["prep"] = _dry_prep(work)
    t0 = time.perf_counter()
    for name in STEPS:
        if name not in selected:
            doc["steps"][name] = skipped_step("not selected (--steps)", b[name])
        else:
            print(f"gpu_check: {name} (budget {b[name]:.0f} s)", file=sys.stderr, flush=True)
            doc["steps"][name] = run_step(name, args, b[name], work, out)
            print(f"gpu_check: {name} {doc['steps'][name]['status']}", file=sys.stderr, flush=True)
        if name == "env":
            doc["device"] = doc["steps"]["env"]["summary"]
        doc["wall_s"] = time.perf_counter() - t0
        doc["finished_utc"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        doc["summary"] = {
            "statuses": {k: v["status"] for k, v in doc["steps"].items()},
            "headline": headline(doc["steps"]),
        }
        doc["schema_check"] = "pending"
        write_report(doc, out)  # after every step: a call cut short still brings the finished steps back
    doc["schema_check"] = validate(finite(doc))
    write_report(doc, out)
    print((out / "summary.txt").read_text())
    if not args.keep_work:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    failed = doc["schema_check"] not in ("valid",) and not doc["schema_check"].startswith("not checked")
    failed = failed or any(s["status"] in ("failed", "error", "timeout") for s in doc["steps"].values())
    return 1 if failed else 0


def _dry_prep(work: Path) -> tuple[Path, str, dict]:
    """The dry run's own prep folder (small windows of the bundled yeast chromosome, the scoring inputs), built as
    --prep would: (windows directory, prep folder, what --prep reported)."""
    sys.path.insert(0, str(BENCH))
    prep = work / "prep"
    cmd = [sys.executable, __file__, "--prep", "--dry-run", "--prep-dir", str(prep)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return prep / "missing", str(prep), {"status": "error", "reason": proc.stderr.strip()[-500:]}
    made = json.loads(proc.stdout.splitlines()[-1])
    return Path(made["windows"]), str(prep), {"status": "ok", **made}


# ------------------------------------------------------------------------------------------------ entry points


def device_command(args) -> dict:
    """The exact `run` call: command (<= 2000 characters), carry list and time limit."""
    import gpu_vep

    prep = ROOT / PREP_DIR
    commit = _commit() or "unknown"
    command = f"GENOMAMBA_COMMIT={commit} bash benchmarks/gpu_check.sh"
    size = sum(p.stat().st_size for p in prep.rglob("*") if p.is_file()) if prep.is_dir() else 0
    return {
        "command": command,
        "carry": [str(PREP_DIR)],
        "timeout_s": DEVICE_TIMEOUT_S,
        "carry_mib": round(size / 2**20, 1),
        "prepared": all((prep / f).is_file() for f in ("fly4/qc.json", "fly4.splits.npz", gpu_vep.VEP_FILE)),
        "wheels": sorted(p.name for p in (prep / "whl").glob("*.whl")) if (prep / "whl").is_dir() else [],
    }


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="CPU only: every step on tiny shapes, one iteration")
    ap.add_argument("--out", default=os.environ.get("OUT", "results/gpu-check"), help="report folder (default $OUT)")
    ap.add_argument("--steps", help=f"comma-separated subset of {','.join(STEPS)} (default: all)")
    ap.add_argument("--budget", action="append", metavar="STEP=SECONDS", help="override one step's time budget")
    ap.add_argument("--pretrain-minutes", type=float, default=3.0, help="wall time of the pretraining fit")
    ap.add_argument("--windows", default=str(PREP_DIR / "fly4"), help="windows directory built by --prep")
    ap.add_argument("--keep-work", action="store_true", help="keep the scratch folder (pretraining run, junit)")
    ap.add_argument("--prep", action="store_true", help="CPU side: build the pretraining and scoring inputs")
    ap.add_argument("--prep-dir", default=str(PREP_DIR), help="--prep's output, the steps' input (default %(default)s)")
    ap.add_argument("--device-command", action="store_true", help="print the device `run` call as JSON")
    ap.add_argument("--run-step", choices=STEPS, help=argparse.SUPPRESS)
    ap.add_argument("--records", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--step-budget", type=float, default=60.0, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(BENCH))
    if args.run_step:
        return step_main(args)
    if args.prep:
        import gpu_pretrain
        import gpu_vep

        made = gpu_pretrain.prep(Path(args.prep_dir), args.dry_run)
        print(json.dumps(made | {"vep": gpu_vep.prep(Path(args.prep_dir))}))
        return 0
    if args.device_command:
        print(json.dumps(device_command(args), indent=1))
        return 0
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    if not cuda and not args.dry_run:
        print("gpu_check: no CUDA device here; use --dry-run on a CPU", file=sys.stderr)
        return 2
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
