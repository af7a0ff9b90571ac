"""Variant-effect scoring: VCF in, per-ALT scores out (``score_vcf``), and their evaluation against labels
(``evaluate_vep``). ``ScoreVcfConfig`` holds every scoring default and bound.

The entry points are imported on first use, so reading the config (as the CLI does to show its defaults) stays
light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from genomamba.vep.config import EvaluateVepConfig, ScoreVcfConfig

if TYPE_CHECKING:
    from genomamba.vep.evaluate import evaluate_vep
    from genomamba.vep.run import score_vcf

__all__ = ["EvaluateVepConfig", "ScoreVcfConfig", "evaluate_vep", "score_vcf"]

_LAZY = {"score_vcf": "genomamba.vep.run", "evaluate_vep": "genomamba.vep.evaluate"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
