"""Shared fixtures: where the optional shared data lives, and GPU/interpreter markers."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GENOMAMBA_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data, or a clean skip when the shared data is not beside the checkout."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU (none here)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


def _slurm_answers() -> bool:
    if not shutil.which("sbatch"):
        return False
    try:  # sinfo blocks for seconds when a slurm.conf exists but no controller runs
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=5).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@pytest.fixture
def slurm_cluster():
    """A running SLURM cluster (tests/cluster/slurm-up.sh), or a skip; with GENOMAMBA_REQUIRE_SLURM=1 (CI) a
    missing cluster fails the test instead, so the SLURM path can never be skipped silently there."""
    if not _slurm_answers():
        if os.environ.get("GENOMAMBA_REQUIRE_SLURM") == "1":
            pytest.fail("GENOMAMBA_REQUIRE_SLURM=1 but no SLURM cluster answers (tests/cluster/slurm-up.sh)")
        pytest.skip("no running SLURM cluster (start one with tests/cluster/slurm-up.sh)")
