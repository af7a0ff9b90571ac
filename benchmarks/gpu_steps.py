"""Steps of ``benchmarks/gpu_check.py`` besides the scan benchmark, pretraining and variant scoring: the environment
record, the test runs and training throughput. Each ``run_*`` takes ``emit`` (appends one record to
the step's log of results) and returns the step's summary; a summary may set ``status``/``reason`` itself.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# packages the device machine lacks unless carried as wheels (KINDS.md lists what it has)
ABSENT_ON_DEVICE = ("polars", "pysam", "snakemake", "deflate", "pyfaidx", "Bio")
PIN_WARPS = "GENOMAMBA_AUTOTUNE_NUM_WARPS"  # kernels/_autotune.py: keeps only the configs with this warp count


# ------------------------------------------------------------------------------------------------ environment


def _nvidia_smi() -> str | None:
    if not shutil.which("nvidia-smi"):
        return None
    fields = "name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit,temperature.gpu,pstate"
    try:
        cmd = ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=15).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable: {exc}"


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def env_info() -> dict:
    """Machine, GPU and library versions; which optional packages import here."""
    import torch

    info: dict = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "commit": os.environ.get("GENOMAMBA_COMMIT"),
        "packages": {name: _importable(name) for name in (*ABSENT_ON_DEVICE, "jsonschema")},
    }
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = {
            "name": props.name,
            "capability": f"{props.major}.{props.minor}",
            "memory_gib": props.total_memory / 2**30,
            "multiprocessors": props.multi_processor_count,
            "l2_cache_mib": getattr(props, "L2_cache_size", 0) / 2**20,
            "nvidia_smi": _nvidia_smi(),
        }
    return info


def run_env(emit, dry: bool) -> dict:
    info = env_info()
    emit({"kind": "env", **info})
    return info


# ------------------------------------------------------------------------------------------------ tests


# Not run on the device: it starts Python with PYTHONPATH=<checkout> alone, and the device's checkout is not
# installed, so genomamba_kernels (kernels/) does not import there; it is a CPU interpreter test that CI runs.
DESELECT = ["tests/model/test_backends.py::test_triton_backend_under_the_interpreter_matches_ref"]


# gpu-marked files that cannot be collected on the device: the inference commands read and write tables and bigWigs
# (polars, pyBigWig), which the device's Python lacks; their CUDA paths need those packages carried as wheels
NOT_ON_DEVICE = ("tests/inference/",)


def test_selection() -> dict[str, list[str]]:
    """The gpu tier: every test file that uses the gpu marker (less NOT_ON_DEVICE); the CUDA run: tests/kernels and
    tests/model."""
    gpu = sorted(
        rel
        for p in (ROOT / "tests").rglob("test_*.py")
        if "pytest.mark.gpu" in p.read_text() and not (rel := str(p.relative_to(ROOT))).startswith(NOT_ON_DEVICE)
    )
    rest = ["-m", "not gpu", "tests/kernels", "tests/model", *(f"--deselect={t}" for t in DESELECT)]
    return {"gpu tier": ["-m", "gpu", *gpu], "kernels and model": rest}


def _junit_counts(xml: Path) -> dict:
    suites = ET.parse(xml).getroot()
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failures, skips = [], []
    for case in suites.iter("testcase"):
        node = f"{case.get('classname')}::{case.get('name')}"
        tags = {child.tag: child for child in case}
        if "failure" in tags or "error" in tags:
            key = "failed" if "failure" in tags else "errors"
            counts[key] += 1
            failures.append({"test": node, "message": (tags.get("failure") or tags["error"]).get("message", "")[:400]})
        elif "skipped" in tags:
            counts["skipped"] += 1
            skips.append({"test": node, "reason": tags["skipped"].get("message", "")[:200]})
        else:
            counts["passed"] += 1
    return {"counts": counts, "failures": failures, "skips": skips[:50]}


def _log_counts(text: str) -> dict:
    """Counts from ``-v`` progress lines, for a run that was stopped before pytest wrote its report."""
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    for word, key in (("PASSED", "passed"), ("FAILED", "failed"), ("ERROR", "errors"), ("SKIPPED", "skipped")):
        # "path::test PASSED [ 5%]", or with xdist "[gw0] [  5%] PASSED path::test"
        counts[key] = len(re.findall(rf"(?m)(?:::\S+ {word}\b|^\[gw\d+\] \[\s*\d+%\] {word} \S+::)", text))
    return {"counts": counts, "failures": [], "skips": []}


def _pytest(name: str, args: list[str], dry: bool, timeout: float, log: Path, work: Path) -> dict:
    xml = work / f"junit-{len(list(work.glob('junit-*')))}.xml"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", f"--junitxml={xml}", *args]
    cmd += ["--collect-only", "-q"] if dry else ["-v"]
    if not dry and importlib.util.find_spec("pytest_timeout"):
        cmd.append("--timeout=120")
    if not dry and name != "gpu tier" and importlib.util.find_spec("xdist"):
        cmd += ["-n", "8"]  # the CPU-bound rest on 8 of the device's 16 cores; the gpu tier stays in one process
    env = dict(os.environ)
    if not dry:
        env.pop("TRITON_INTERPRET", None)  # the Triton tests run on the GPU, not in the interpreter
        env.setdefault(PIN_WARPS, "4")  # one autotune config per kernel: every new shape compiles once, not 3x
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        text, rc, status = proc.stdout + proc.stderr, proc.returncode, None
    except subprocess.TimeoutExpired as exc:
        text = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        rc, status = None, "timeout"
    with log.open("a") as fh:
        fh.write(f"\n===== {name}: {' '.join(cmd[1:])}\n{text}")
    rec = {"kind": "pytest", "selection": name, "args": args, "returncode": rc, "seconds": time.perf_counter() - t0}
    rec["env"] = {k: env[k] for k in (PIN_WARPS, "TRITON_INTERPRET") if k in env}
    if dry:
        ids = [ln for ln in text.splitlines() if "::" in ln]
        rec.update(status="ok" if rc == 0 else "error", collected=len(ids))
        files = sorted({i.split("::")[0] for i in ids})
        rec["per_file"] = {f: sum(1 for i in ids if i.startswith(f + "::")) for f in files}
        return rec
    rec.update(_junit_counts(xml) if xml.is_file() else _log_counts(text))
    c = rec["counts"]
    ran = c["passed"] + c["failed"] + c["errors"]
    rec["status"] = status or ("ok" if rc == 0 and ran else "failed")
    if ran == 0 and status is None:
        rec["reason"] = "no test ran (all skipped or none collected)"
    return rec


def run_tests(emit, dry: bool, log: Path, work: Path, budget_s: float) -> dict:
    """The gpu tier first (most of the budget), then the rest of tests/kernels and tests/model on the CUDA box."""
    deadline = time.perf_counter() + budget_s - 5
    results = []
    for i, (name, args) in enumerate(test_selection().items()):
        left = deadline - time.perf_counter()
        share = left * 0.7 if i == 0 else left
        rec = _pytest(name, args, dry, max(share, 5), log, work)
        emit(rec)
        results.append(rec)
    bad = [r["selection"] for r in results if r["status"] != "ok"]
    summary = {"selections": {r["selection"]: r.get("counts", r.get("collected")) for r in results}}
    if bad:
        summary.update(status="failed", reason="not all passed: " + ", ".join(bad))
    return summary


# ------------------------------------------------------------------------------------------------ training


def train_points(dry: bool) -> dict:
    if dry:
        return {"presets": ["tiny"], "lengths": [256], "steps": 1}
    return {"presets": ["small", "base"], "lengths": [4096, 65536, 1 << 20], "steps": 2}


def run_train(emit, dry: bool, budget_s: float) -> dict:
    """benchmarks/train.py's step (bf16 autocast on CUDA) per preset and length, in one process; an OOM is a
    result, and the longer lengths of that preset are then not run."""
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from train import worker

    pts = train_points(dry)
    device = "cuda" if torch.cuda.is_available() and not dry else "cpu"
    threads = 1 if dry else os.cpu_count() or 1
    n_ok, deadline = 0, time.perf_counter() + budget_s
    for preset in pts["presets"]:
        blocked = None
        for length in pts["lengths"]:
            base = {"kind": "train", "config": preset, "length": length, "device": device}
            if blocked or deadline - time.perf_counter() < 5:
                why = f"out of memory at length {blocked:,}" if blocked else "the step's time budget is spent"
                emit({**base, "status": "not_run", "reason": why})
                continue
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            try:
                res = worker(preset, length, pts["steps"], device, threads)
                emit({**base, **res, "status": "ok", "autocast": "bf16" if device == "cuda" else None})
                n_ok += 1
            except Exception as exc:
                oom = isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()
                rec = {**base, "status": "oom" if oom else "error", "error": f"{type(exc).__name__}: {exc}"[:500]}
                if device == "cuda":
                    rec["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
                emit(rec)
                blocked = length if oom else blocked
            finally:
                gc.collect()
                if device == "cuda":
                    torch.cuda.empty_cache()
    return {"device": device, "points_ok": n_ok}
