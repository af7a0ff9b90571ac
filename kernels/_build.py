"""Build-once cache for the C++ CPU kernel: g++ -> shared library, loaded with ctypes.

The library is plain C++ (no torch headers, no pybind11), so a cold build takes seconds, not the ~40 s of a
``torch.utils.cpp_extension`` build. It is compiled with ``-march=native`` and cached under
``$GENOMAMBA_KERNELS_CACHE`` (default ``$XDG_CACHE_HOME/genomamba_kernels`` or ``~/.cache/genomamba_kernels``),
keyed by a hash of the source (and the headers next to it), the flags, the compiler version and the CPU's
feature flags, so a changed source or another machine gets its own build. The file appears atomically
(compile to a temp name, rename).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

CXX_FLAGS = ["-O3", "-march=native", "-std=c++17", "-fPIC", "-shared", "-pthread", "-fno-math-errno"]


class KernelBuildError(RuntimeError):
    """The C++ kernel could not be compiled (no compiler, or a compile error): message says which."""


def cache_dir() -> Path:
    env = os.environ.get("GENOMAMBA_KERNELS_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "genomamba_kernels"


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _compiler() -> str:
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if not cxx:
        raise KernelBuildError(
            "the CPU selective-scan kernel needs a C++ compiler (g++), none found on PATH; install g++ or set CXX"
        )
    return cxx


def build_library(source: Path, name: str) -> ctypes.CDLL:
    """Compile ``source`` into a cached shared library (if not cached yet) and load it."""
    cxx = _compiler()
    # the source plus every header beside it (csrc/simd.h): a changed header must rebuild its users
    text = source.read_bytes() + b"".join(h.read_bytes() for h in sorted(source.parent.glob("*.h")))
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    key = hashlib.sha256(
        b"\0".join([text, " ".join(CXX_FLAGS).encode(), "".join(version).encode(), _cpu_flags().encode()])
    ).hexdigest()[:16]
    target = cache_dir() / f"{name}-{key}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".so", dir=target.parent)
        os.close(fd)
        try:
            proc = subprocess.run([cxx, *CXX_FLAGS, str(source), "-o", tmp], capture_output=True, text=True)
            if proc.returncode != 0:
                raise KernelBuildError(f"compiling {source} failed ({cxx}):\n{proc.stderr[-4000:]}")
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return ctypes.CDLL(str(target))
