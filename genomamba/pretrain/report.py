"""What a pretraining run reports: k-mer baselines on exactly the model's val/test tiles, the data checksums, the
summary JSON and its text table."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from genomamba.atomic import atomic_file, file_digest
from genomamba.config import to_dict
from genomamba.pretrain.config import PretrainConfig

if TYPE_CHECKING:
    from genomamba.pretrain.data import PretrainDataModule

log = logging.getLogger(__name__)


def write_json(path: Path, data: dict) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=float) + "\n")


def data_checksums(root: Path) -> dict:
    """md5 of the windows directory's token, softmask and manifest files, and the per-contig md5 it records."""
    files = {"tokens_md5": "tokens.u8", "softmask_md5": "softmask.u8", "windows_parquet_md5": "windows.parquet"}
    out = {key: file_digest(root / name, "md5") for key, name in files.items()}
    try:
        import polars as pl

        contigs = pl.read_parquet(root / "contigs.parquet")
        out["contigs"] = {r["name"]: r["md5"] for r in contigs.select("name", "md5").to_dicts()}
    except Exception as exc:  # informative only; WindowsDir already validated the directory
        out["contigs"] = f"unreadable: {exc}"
    return out


def _baseline_key(dm: PretrainDataModule, cfg: PretrainConfig) -> str:
    """Identifies the tiles, their length, the baseline settings and the genome size the cache was made for."""
    return hashlib.md5(
        json.dumps(
            {
                "val": dm.tiles["val"].tolist(),
                "test": dm.tiles["test"].tolist(),
                "len": dm.cfg.eval_len,
                "cfg": to_dict(cfg.baselines),
                "tokens": os.path.getsize(dm.root / "tokens.u8"),
            }
        ).encode()
    ).hexdigest()


def compute_baselines(dm: PretrainDataModule, cfg: PretrainConfig, out: Path) -> dict:
    """k-mer baselines on exactly the val/test tiles; cached in OUT/baselines.json (keyed by tiles + config)."""
    from genomamba.baselines.kmer import evaluate_baselines

    key = _baseline_key(dm, cfg)
    path = out / "baselines.json"
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            return cached
    t0 = time.perf_counter()
    train = dm.train_segments()
    tiles = {split: dm.tile_arrays(split) for split in ("val", "test")}
    b = cfg.baselines
    res = evaluate_baselines(train, tiles, b.one_sided_orders, b.two_sided_orders, b.alpha)
    result = {"key": key, "tile_length": dm.cfg.eval_len, "alpha": {r.name: r.alpha for r in res["val"]}}
    for split in ("val", "test"):
        result[split] = {r.name: r.bits_per_base for r in res[split]}
        result[f"{split}_positions"] = res[split][0].n_positions if res[split] else 0
    result["seconds"] = time.perf_counter() - t0
    write_json(path, result)
    log.info("k-mer baselines on val/test tiles in %.1f s", result["seconds"])
    return result


def best_of(baselines: dict, split: str, family: str) -> tuple[str, float] | None:
    """(name, bits/base) of the best baseline of ``family`` (one_sided / two_sided) on ``split``, if any."""
    items = [(k, v) for k, v in baselines.get(split, {}).items() if k.startswith(family)]
    return min(items, key=lambda kv: kv[1]) if items else None


def comparisons(baselines: dict, best_val_bpb: float, test_bpb: float | None) -> dict:
    """``{split}_vs_best_{family}`` entries: the model against the best baseline of each family."""
    out = {}
    for split, model_bpb in (("val", best_val_bpb), ("test", test_bpb)):
        for family in ("one_sided", "two_sided"):
            b = best_of(baselines, split, family)
            if b is not None and model_bpb is not None:
                out[f"{split}_vs_best_{family}"] = {
                    "baseline": b[0],
                    "baseline_bits_per_base": b[1],
                    "model_bits_per_base": float(model_bpb),
                    "model_better": bool(model_bpb < b[1]),
                }
    return out


def _fmt(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"


def format_table(summary: dict) -> str:
    """Model vs every baseline order, bits/base on val and test (a text table for logs and the README)."""
    b = summary.get("baselines", {})
    model = summary["test_best_model"].get("test/bits_per_base")
    rows = [("model (best by val)", summary.get("best_val_bits_per_base"), model)]
    rows += [(name, b["val"][name], b["test"].get(name)) for name in b.get("val", {})]
    lines = ["| predictor | val bits/base | test bits/base |", "|---|---:|---:|"]
    lines += [f"| {name} | {_fmt(v)} | {_fmt(t)} |" for name, v, t in rows]
    return "\n".join(lines)
