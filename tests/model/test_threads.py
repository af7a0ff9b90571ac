"""genomamba.threads: thread counts from free cores, the OpenMP wait policy, and the run-time governor."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
import torch

from genomamba import threads


def test_explicit_counts_are_kept_and_checked():
    assert threads.pick_threads(3) == 3
    assert threads.pick_threads("2") == 2
    with pytest.raises(ValueError, match="threads"):
        threads.pick_threads(0)


def test_auto_subtracts_other_load(monkeypatch, caplog):
    monkeypatch.setattr(threads, "usable_cpus", lambda: 4)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (1.2, 0.0, 0.0))
    assert threads.free_cpus(sample_s=0) == (3, "4 usable CPUs, 1-minute load 1.20")
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (9.0, 0.0, 0.0))
    assert threads.free_cpus(sample_s=0)[0] == 1  # never below one thread
    # a competitor that just started shows in the /proc/stat sample before the load average
    samples = iter([(0.0, 100.0, 5.0), (0.2, 100.5, 5.1)])  # 0.5 CPU-s busy, 0.1 of it ours, in 0.2 s
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    monkeypatch.setattr(threads, "_cpu_sample", lambda: next(samples))
    monkeypatch.setattr(threads.time, "sleep", lambda s: None)
    with caplog.at_level(logging.INFO, logger="genomamba.threads"):
        assert threads.pick_threads("auto") == 2  # others used 2 CPUs
    assert "threads auto -> 2" in caplog.text and "other processes using 2.00 CPUs" in caplog.text


def test_auto_on_this_machine_is_in_range():
    assert 1 <= threads.pick_threads("auto") <= threads.usable_cpus()


def test_wait_policy_is_set_before_torch_only():
    assert threads.prepare_process() is False  # torch is imported in this process: too late, nothing changed
    code = "import os; from genomamba import threads; print(threads.prepare_process(), os.environ.get('{}'))"
    env_base = {k: v for k, v in __import__("os").environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", code.format("OMP_WAIT_POLICY")], env=env_base,
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert out == ["True", "PASSIVE"]
    mine = {**env_base, "OMP_WAIT_POLICY": "ACTIVE"}
    out = subprocess.run([sys.executable, "-c", code.format("OMP_WAIT_POLICY")], env=mine,
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert out == ["True", "ACTIVE"], "a policy the user chose is kept"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_reuse_freed_memory_applies_on_glibc():
    import platform

    code = "from genomamba import threads; print(threads.reuse_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ("True" if platform.libc_ver()[0] == "glibc" else "False")


def test_governor_follows_other_processes(monkeypatch):
    before = torch.get_num_threads()
    clock = {"t": 0.0, "busy": 0.0, "ours": 0.0}
    monkeypatch.setattr(threads, "_cpu_sample", lambda: (clock["t"], clock["busy"], clock["ours"]))
    monkeypatch.setattr(threads.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(threads, "usable_cpus", lambda: 2)
    try:
        threads.apply_threads(2)
        gov = threads.ThreadGovernor(every_s=10)
        clock.update(t=5.0, busy=10.0, ours=10.0)
        assert gov.tick() == 2  # not due yet
        clock.update(t=10.0, busy=30.0, ours=20.0)  # 10 s: 30 CPU-s busy, 20 ours -> others used 1 CPU
        assert gov.tick() == 1 and torch.get_num_threads() == 1
        clock.update(t=20.0, busy=40.0, ours=30.0)  # only our own work since: back to 2
        assert gov.tick() == 2 and torch.get_num_threads() == 2
    finally:
        threads.apply_threads(before)
        from genomamba_kernels.cpu_scan import set_kernel_threads

        set_kernel_threads(None)


def test_cpu_features_and_machine_info():
    assert threads.cpu_has_bf16() == any(f in threads.cpu_flags() for f in ("avx512_bf16", "amx_bf16"))
    info = threads.machine_info()
    assert info["usable_cpus"] >= 1 and info["torch"] == torch.__version__
