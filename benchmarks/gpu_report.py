"""The report of ``benchmarks/gpu_check.py``: headline numbers, schema check, JSON and text files."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

SCHEMA = Path(__file__).resolve().parent / "gpu_check.schema.json"


def finite(obj):
    """JSON-safe copy: NaN and infinities become None (strict JSON has neither)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def headline(steps: dict) -> dict:
    """The numbers issue 15 asks for, picked out of the records (None where a step did not produce them)."""
    h: dict = {}
    for r in steps.get("scan", {}).get("records", []):
        if r.get("kind") == "timing" and r.get("status") == "ok" and r.get("peer") == "fused_triton":
            h[f"scan_{r['mode']}_ms/{r['shape']}"] = r["median_ms"]
    for r in steps.get("train", {}).get("records", []):
        if r.get("kind") == "train":
            ok = r.get("status") == "ok"
            h[f"train_tokens_per_s/{r['config']}/{r['length']}"] = r.get("tokens_per_s") if ok else r.get("status")
            h[f"train_peak_gpu_gib/{r['config']}/{r['length']}"] = r.get("peak_gpu_gib")
    pre = steps.get("pretrain", {}).get("summary", {})
    for k in ("steps", "precision", "loss_fell", "test_bits_per_base", "tokens_per_s"):
        h[f"pretrain_{k}"] = pre.get(k)
    for r in steps.get("score_vcf", {}).get("records", []):
        if r.get("kind") == "vep_timing":
            key = f"score_vcf_variants_per_s/{r['device']}/{r['preset']}/{r['context']}"
            h[key] = r.get("variants_per_s") if r.get("status") == "ok" else r.get("status")
        elif r.get("kind") == "vep_check":
            h["score_vcf_cuda_matches_cpu"] = r.get("passed")
            h["score_vcf_check_max_abs_err"] = r.get("max_abs_err")
    h["score_vcf_speedup_vs_cpu"] = steps.get("score_vcf", {}).get("summary", {}).get("speedup_vs_cpu")
    fwd = h.get("scan_fwd_ms/b1_d256_n16_L1048576")
    h["target_fwd_L2^20_d256_at_most_3ms_on_h100"] = None if fwd is None else fwd <= 3.0
    tests = steps.get("tests", {}).get("summary", {}).get("selections", {})
    h.update({f"tests/{k}": v for k, v in tests.items()})
    return h


def validate(doc: dict) -> str:
    try:
        import jsonschema
    except ImportError:
        return "not checked: jsonschema is not installed here"
    try:
        jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    except jsonschema.ValidationError as exc:
        return f"invalid: {exc.message} at {'/'.join(map(str, exc.absolute_path))}"
    return "valid"


def summary_text(doc: dict) -> str:
    gpu = doc["device"].get("gpu") or {}
    lines = [
        f"genomamba GPU check{' (DRY RUN, CPU)' if doc['dry_run'] else ''}: {gpu.get('name', 'no GPU')}",
        f"commit {doc['commit']}; torch {doc['device'].get('torch')}, triton {doc['device'].get('triton')}; "
        f"wall {doc['wall_s']:.0f} s; schema {doc['schema_check']}",
        "",
    ]
    for name, s in doc["steps"].items():
        lines.append(f"{name:10s} {s['status']:8s} {s['seconds']:6.1f}/{s['budget_s']:.0f} s  {s['reason'] or ''}")
    lines.append("")
    lines += [f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in doc["summary"]["headline"].items()]
    return "\n".join(lines) + "\n"


def write_report(doc: dict, out: Path) -> None:
    doc = finite(doc)
    tmp = out / "gpu_check.json.tmp"
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, out / "gpu_check.json")
    (out / "summary.txt").write_text(summary_text(doc))
