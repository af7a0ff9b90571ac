"""Packaging: `kernels/` is importable as `genomamba_kernels` in editable and regular installs, and every
subpackage is listed in pyproject.toml (the folder mapping rules out automatic discovery)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import genomamba_kernels

ROOT = Path(__file__).resolve().parents[1]


def test_editable_install_maps_kernels_folder():
    # the development environment (make test) installs the project editable: the import name points at kernels/
    assert Path(genomamba_kernels.__file__).resolve().parent == ROOT / "kernels"


def test_every_subpackage_is_listed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "genomamba").rglob("__init__.py")}
    assert found | {"genomamba_kernels", "genomamba._configs"} == listed


def test_regular_wheel_install(tmp_path):
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheel_dir, ROOT],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheel_dir.glob("genomamba-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "genomamba_kernels/__init__.py" in names
    assert not any(n.startswith("kernels/") for n in names)  # never a top-level `kernels` package
    assert "genomamba/resources/genomes/yeast_chrI/ScerR64_I.fna.gz" in names
    assert "genomamba/_configs/model/tiny.yaml" in names  # model presets resolve by name without a checkout
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", target, wheel], check=True)
    # import from the installed copy, not the source tree: the target dir goes first on sys.path
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import genomamba_kernels, genomamba;"
        "print(genomamba_kernels.__file__); print(genomamba.__file__);"
        "from genomamba.model.config import model_config_path; print(model_config_path('tiny'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(target)], check=True, capture_output=True, text=True, cwd=tmp_path
    ).stdout.split()
    assert all(Path(p).resolve().is_relative_to(target.resolve()) for p in out), out
