"""One place that builds Triton autotune config lists.

Under ``TRITON_INTERPRET=1`` (CPU tests) the list collapses to its first, cheapest config: the interpreter
would otherwise run every candidate. ``GENOMAMBA_AUTOTUNE_NUM_WARPS`` pins the warp count (for profiling).
"""

from __future__ import annotations

import os

import triton


def interpreting() -> bool:
    """True when Triton kernels run in the CPU interpreter (``TRITON_INTERPRET`` set and not 0)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def autotune_configs(configs: list[triton.Config]) -> list[triton.Config]:
    """Filter ``configs`` by the environment: one config in the interpreter, a pinned warp count if asked."""
    warps = os.environ.get("GENOMAMBA_AUTOTUNE_NUM_WARPS")
    if warps:
        configs = [c for c in configs if c.num_warps == int(warps)] or configs[:1]
    if interpreting():
        configs = configs[:1]
    return configs
