"""benchmarks/ssd.py --merge: points measured in separate invocations join one JSON without losing conditions."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import ssd  # noqa: E402


def _row(peer: str, length: int, tps: float, section: str = "model", mode: str = "train") -> dict:
    return {"section": section, "peer": peer, "length": length, "mode": mode, "status": "ok", "tokens_per_s": tps,
            "seconds": length / tps}  # fmt: skip


def _doc(rows: list[dict], note: str) -> dict:
    return {"rows": rows, "threads": 2, "loadavg_start": [0.1] * 3, "loadavg_end": [1.0] * 3, "note": note,
            "created": "t", "skipped_peers": {}, "summary": ssd.summarise(rows)}  # fmt: skip


def test_merge_keeps_other_points_replaces_remeasured_ones_and_records_each_session():
    old = _doc([_row("tiny", 4096, 100.0), _row("tiny_ssd", 4096, 50.0)], "first")
    new = _doc([_row("tiny_ssd", 4096, 300.0), _row("tiny", 65536, 80.0)], "second")
    merged = ssd.merge(old, new)
    got = {(r["peer"], r["length"]): r["tokens_per_s"] for r in merged["rows"]}
    assert got == {("tiny", 4096): 100.0, ("tiny_ssd", 4096): 300.0, ("tiny", 65536): 80.0}
    assert merged["summary"]["model_over_mamba1"] == {"tiny_ssd/train/4096": 3.0}
    assert [s["note"] for s in merged["sessions"]] == ["first", "second"]
    again = ssd.merge(merged, _doc([_row("tiny", 4096, 120.0)], "third"))
    assert [s["note"] for s in again["sessions"]] == ["first", "second", "third"]
    assert again["summary"]["model_over_mamba1"]["tiny_ssd/train/4096"] == 2.5
