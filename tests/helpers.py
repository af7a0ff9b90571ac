"""Helpers shared by test modules (plain functions; fixtures live in the conftest files)."""

from __future__ import annotations

import subprocess
import sys


def run_cli(*args: str, check: bool = False, timeout: float = 300, **run_kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m genomamba ARGS`` in a subprocess: the real entry point, exit code and stderr included.
    ``check`` turns a non-zero exit into an AssertionError that shows both streams."""
    proc = subprocess.run(
        [sys.executable, "-m", "genomamba", *args], capture_output=True, text=True, timeout=timeout, **run_kwargs
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc
