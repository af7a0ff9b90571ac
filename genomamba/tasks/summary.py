"""The end-of-workflow summary: one readable table of the headline metrics of every stage.

Each stage writes its own JSON (windows QC, pretraining summary, fine-tuning metrics, VEP metrics); this module
only collects numbers from them, so the summary can never disagree with the files it points at.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

from genomamba.atomic import atomic_file
from genomamba.errors import GenomambaError


def _load(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise GenomambaError(f"cannot read metrics ({exc})", path) from None


def flatten_numbers(data, prefix: str = "", depth: int = 4) -> Iterable[tuple[str, float]]:
    """Yield ``(dotted.key, value)`` for the finite numeric leaves of a nested JSON object."""
    if isinstance(data, bool):
        return
    if isinstance(data, (int, float)):
        if math.isfinite(data):
            yield prefix, float(data)
        return
    if isinstance(data, dict) and depth > 0:
        for key, value in data.items():
            yield from flatten_numbers(value, f"{prefix}.{key}" if prefix else str(key), depth - 1)


def summarize(metrics: list[tuple[str, Path, list[str]]], out_txt: Path, out_json: Path) -> dict:
    """Write a text table and a JSON of the selected numbers.

    Args:
        metrics: ``(label, json_path, keys)``; ``keys`` are dotted keys to report (all numeric leaves if empty).
    """
    summary: dict[str, dict[str, float]] = {}
    for label, path, keys in metrics:
        numbers = dict(flatten_numbers(_load(path)))
        chosen = {k: numbers[k] for k in keys if k in numbers} if keys else numbers
        summary[label] = chosen
    lines = ["genomamba results", "================="]
    for label, numbers in summary.items():
        lines.append(f"\n[{label}]")
        width = max((len(k) for k in numbers), default=0)
        lines += [f"  {k:<{width}}  {v:.4g}" for k, v in numbers.items()]
    with atomic_file(out_txt) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    with atomic_file(out_json) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return summary
