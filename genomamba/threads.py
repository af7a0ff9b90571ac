"""CPU threads that survive a busy machine, and what this CPU can do (native bf16 matmul).

Why 2 threads collapse beside a competing process. torch's intra-op pool (OpenMP, libgomp) splits each op
statically over its threads and joins them at a barrier; a training step is ~1,000 such ops of 0.05-1 ms.
libgomp's waiting threads spin (``OMP_WAIT_POLICY`` unset: a long busy-wait before sleeping), so with more
runnable threads than cores the spinning threads take the CPU from the competitor and from our own thread
that still has work. Measured on the 2-core dev box beside one ``while True: pass`` (tiny, L=4096,
fwd+bwd+AdamW): 2 threads with the default policy did not finish 4 steps in 18 s (> 3 s per step, also with
``GOMP_SPINCOUNT=20000``); with ``OMP_WAIT_POLICY=PASSIVE`` a step took 0.37 s; 1 thread took 0.32 s.

So, for an entry point (the pretrain CLI), in this order:

1. ``prepare_process()`` before ``import torch``: ``OMP_WAIT_POLICY=PASSIVE`` unless the user set a policy,
   and ``reuse_freed_memory()`` (glibc: freed tensor memory is kept for the next tensor instead of being
   unmapped and faulted in again; tiny at 64k: ~7k -> ~11k tokens/s at 1 thread, peak RSS 1.5 -> 2.2 GiB).
2. ``n = pick_threads(cfg.trainer.threads)``: an integer as given, or ``"auto"``/None = the cores free right
   now (affinity and cgroup quota, minus what other processes use: the larger of the 1-minute load average
   and a 0.2 s /proc/stat sample), logged with the reason.
3. ``apply_threads(n)``: torch's intra-op threads and the C++ scan/conv/norm kernels' threads (the kernels hand
   out small tasks dynamically: a descheduled thread delays one task, not every op). With CPU data parallelism
   (Lightning ``devices: 2`` on gloo), each process should get ``apply_threads(1)``.
4. Optionally ``ThreadGovernor`` (``tick()`` once per training step) re-picks the count every ``every_s``
   seconds from what other processes used meanwhile, for runs that outlive the conditions at their start.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import sys
import time

log = logging.getLogger(__name__)

BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of native bf16 matmul (AVX-512 BF16, AMX)


def _cpuinfo_field(prefix: str) -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """Feature flags of the first CPU in /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    return frozenset((_cpuinfo_field("flags") or "").split())


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    import platform

    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def cpu_has_bf16() -> bool:
    """True when the CPU multiplies bf16 matrices natively (AVX-512 BF16 or AMX)."""
    return any(f in cpu_flags() for f in BF16_FLAGS)


@functools.lru_cache(maxsize=1)
def resolve_cpu_autocast() -> bool:
    """``cpu_autocast: auto``: bf16 projections iff the CPU has native bf16 matmul; logged once per process."""
    on = cpu_has_bf16()
    have = [f for f in BF16_FLAGS if f in cpu_flags()]
    log.info("cpu_autocast auto -> %s (%s)", "bf16" if on else "off", ", ".join(have) or "no avx512_bf16/amx_bf16")
    return on


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup v2 CPU quota (containers)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="utf-8") as fh:
            quota, period = fh.read().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.floor(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def _cpu_sample() -> tuple[float, float, float] | None:
    """(wall s, busy CPU-seconds of the whole machine, CPU-seconds of this process) now; None without /proc."""
    try:
        with open("/proc/stat", encoding="utf-8") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = (sum(fields[:8]) - idle) / hz  # user..steal; guest time is already inside user
    return time.monotonic(), busy, time.process_time()


def _others_busy(before, after) -> float | None:
    """CPUs kept busy by other processes between two samples (ours subtracted)."""
    if before is None or after is None or after[0] - before[0] <= 0:
        return None
    wall = after[0] - before[0]
    return max(0.0, ((after[1] - before[1]) - (after[2] - before[2])) / wall)


def free_cpus(sample_s: float = 0.2) -> tuple[int, str]:
    """(cores other processes leave free, the reason in words), at least 1. Busy = the larger of the 1-minute
    load average (lags by a minute) and other processes' CPU use over a ``sample_s`` /proc/stat sample (sees
    a competitor that just started). Meant for a process that is not computing yet."""
    n = usable_cpus()
    busy, parts = 0.0, [f"{n} usable CPUs"]
    try:
        load1 = os.getloadavg()[0]
        busy, parts = load1, parts + [f"1-minute load {load1:.2f}"]
    except OSError:
        pass
    if sample_s > 0:
        before = _cpu_sample()
        time.sleep(sample_s)
        now = _others_busy(before, _cpu_sample())
        if now is not None:
            busy = max(busy, now)
            parts.append(f"other processes using {now:.2f} CPUs now")
    free = max(1, min(n, math.floor(n - busy + 0.5)))
    return free, ", ".join(parts)


def pick_threads(requested: int | str | None = "auto") -> int:
    """Thread count for training/inference: an integer as given, or ``"auto"`` (also None) = the free cores.
    The choice and its reason are logged."""
    if requested is not None and requested != "auto":
        n = int(requested)
        if n < 1:
            raise ValueError(f"threads must be >= 1 or 'auto', got {requested!r}")
        log.info("threads: %d (as configured)", n)
        return n
    n, why = free_cpus()
    log.info("threads auto -> %d (%s)", n, why)
    return n


def reuse_freed_memory() -> bool:
    """glibc only: serve every allocation from the heap and never give freed memory back (mallopt
    M_MMAP_MAX=0, M_TRIM_THRESHOLD=max). Tensors of 32 MB and more (glibc's largest mmap threshold) are
    otherwise mmapped fresh and page-faulted in on every use, which at 64k+ bases costs more than the
    arithmetic of the op that fills them. Peak RSS grows by what fragmentation keeps (measured +0.7 GiB for
    tiny at 64k). Returns whether the settings were applied."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold, m_mmap_max = -1, -4  # malloc.h
        ok = libc.mallopt(m_mmap_max, 0) == 1 and libc.mallopt(m_trim_threshold, 2**31 - 1) == 1
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    log.info("allocator: freed memory kept for reuse (glibc mmap off)" if ok else "allocator: mallopt refused")
    return ok


def prepare_process(reuse_memory: bool = True) -> bool:
    """Make OpenMP's waiting threads sleep instead of spin (``OMP_WAIT_POLICY=PASSIVE``) unless the user chose a
    policy, and (``reuse_memory``) call ``reuse_freed_memory()``. libgomp reads the policy once, when torch is
    imported: returns False (the policy unchanged) if torch is imported already."""
    if reuse_memory:
        reuse_freed_memory()
    if "torch" in sys.modules:
        return False
    if "GOMP_SPINCOUNT" not in os.environ:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return True


def apply_threads(n: int, torch_threads: int | None = None) -> dict:
    """Run the C++ scan/conv kernels on ``n`` threads and torch's intra-op pool on ``torch_threads`` (default
    ``n``; 1 keeps torch's statically split ops off a barrier while the kernels, which hand out work
    dynamically, still use ``n``). Returns the settings made."""
    import torch
    from genomamba_kernels.cpu_scan import set_kernel_threads

    torch.set_num_threads(torch_threads or n)
    set_kernel_threads(n)
    try:
        torch.set_num_interop_threads(1)  # only jit.fork uses it; settable once, before any inter-op work
    except RuntimeError:
        pass
    settings = {
        "threads": n,
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
    }
    log.info("thread settings: %s", settings)
    return settings


class ThreadGovernor:
    """Re-picks the thread count during a run: every ``every_s`` seconds, from the CPU time other processes
    used since the last check (our own time subtracted, so our threads never count as competition).

        governor = ThreadGovernor()       # after apply_threads(pick_threads("auto"))
        ...each training step: governor.tick()
    """

    def __init__(self, every_s: float = 30.0, max_threads: int | None = None):
        import torch

        self.every_s = every_s
        self.max_threads = max_threads or usable_cpus()
        self.threads = torch.get_num_threads()
        self._last = _cpu_sample()

    def tick(self) -> int:
        """Cheap unless a check is due; returns the thread count in use."""
        if self._last is None or time.monotonic() - self._last[0] < self.every_s:
            return self.threads
        now = _cpu_sample()
        others = _others_busy(self._last, now)
        self._last = now
        if others is None:
            return self.threads
        n = max(1, min(self.max_threads, usable_cpus(), math.floor(usable_cpus() - others + 0.5)))
        if n != self.threads:
            log.info("threads %d -> %d (other processes used %.2f CPUs over the last %.0f s)",
                     self.threads, n, others, self.every_s)  # fmt: skip
            apply_threads(n)
            self.threads = n
        return self.threads


def machine_info() -> dict:
    """What a benchmark records about the machine it ran on."""
    import platform

    info = {
        "cpu_model": cpu_model(),
        "avx512f": "avx512f" in cpu_flags(),
        "avx512_bf16": "avx512_bf16" in cpu_flags(),
        "amx_bf16": "amx_bf16" in cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
    }
    if "torch" in sys.modules:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    return info
