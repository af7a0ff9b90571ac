"""benchmarks/inference.py --merge: long sizes measured later join the earlier result, conditions kept."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# loaded by path: the name "inference" is this test package's
_spec = importlib.util.spec_from_file_location("bench_inference", ROOT / "benchmarks" / "inference.py")
inference = importlib.util.module_from_spec(_spec)
_path = list(sys.path)
_spec.loader.exec_module(inference)
sys.path[:] = _path  # the script puts the repository first on sys.path; other test modules keep theirs


def _result(sizes: list[float], note: str, ism: bool) -> dict:
    out = {"started": note, "machine": {"threads": 2}, "note": note,
           "tracks": [{"mb": mb, "peak_rss_mb": 700 + mb} for mb in sizes]}  # fmt: skip
    if ism:
        out["ism"] = {"speedup": 177.0, "note": note}
    return out


def test_merge_adds_sizes_keeps_the_earlier_ism_and_every_session():
    merged = inference.merge(_result([1, 5, 10], "first", ism=True), _result([25, 50, 5], "second", ism=False))
    assert [r["mb"] for r in merged["tracks"]] == [1, 5, 10, 25, 50]
    assert next(r for r in merged["tracks"] if r["mb"] == 5)["peak_rss_mb"] == 705  # re-measured size: the new row
    assert merged["ism"]["note"] == "first"  # the second run skipped ISM
    assert [s["note"] for s in merged["sessions"]] == ["first", "second"]
    again = inference.merge(merged, _result([1], "third", ism=True))
    assert again["ism"]["note"] == "third" and len(again["sessions"]) == 3
