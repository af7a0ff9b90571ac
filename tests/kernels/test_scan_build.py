"""The C++ kernel's build cache: errors name the compiler problem; the loaded library exposes its entry points."""

from __future__ import annotations

import pytest
from genomamba_kernels import _build
from genomamba_kernels.cpu_scan import _SOURCE, load_library


def test_library_loads_from_cache():
    lib = load_library()
    assert lib.genomamba_scan_lanes() in (8, 16)  # AVX2 or AVX-512 tiles
    assert lib.genomamba_scan_max_state() >= 16
    cached = list(_build.cache_dir().glob("genomamba_cpu_scan-*.so"))
    assert cached, "the compiled library is cached on disk"


def test_compile_failure_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("GENOMAMBA_KERNELS_CACHE", str(tmp_path))
    monkeypatch.setenv("CXX", "/bin/false")  # a "compiler" that always fails
    with pytest.raises(_build.KernelBuildError, match="compiling .*cpu_scan.cpp failed"):
        _build.build_library(_SOURCE, "genomamba_cpu_scan")
    assert not list(tmp_path.glob("*.so")), "no half-built library is left behind"


def test_missing_compiler_is_reported(monkeypatch):
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(_build.shutil, "which", lambda name: None)
    with pytest.raises(_build.KernelBuildError, match="needs a C\\+\\+ compiler"):
        _build.build_library(_SOURCE, "genomamba_cpu_scan")
