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
    from genomamba.pretrain.sources import Source

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
    """Identifies the tiles, their length, the baseline settings and the genomes the cache was made for."""
    settings = {"len": dm.cfg.eval_len, "cfg": to_dict(cfg.baselines), "unmasked": True}
    if len(dm.sources) == 1:
        s = dm.sources[0]
        payload = {"val": s.tiles["val"].tolist(), "test": s.tiles["test"].tolist(), **settings}
        payload["tokens"] = os.path.getsize(s.root / "tokens.u8")
    else:  # the train windows too: the homolog guard may have dropped some
        genomes = [
            {
                "name": s.name,
                "val": s.tiles["val"].tolist(),
                "test": s.tiles["test"].tolist(),
                "train": s.splits["train"][:, 0].tolist(),
                "tokens": os.path.getsize(s.root / "tokens.u8"),
            }
            for s in dm.sources
        ]
        payload = {"genomes": genomes, **settings}
    return hashlib.md5(json.dumps(payload).encode()).hexdigest()


def _genome_baselines(source: Source, cfg: PretrainConfig, length: int) -> dict:
    """k-mer baselines fitted on one genome's train windows, scored on its val/test tiles: on every base, and
    (``{split}_unmasked``) on the bases that are not soft-masked, as the model's ``bits_per_base_unmasked``."""
    from genomamba.baselines.kmer import evaluate_baselines

    splits = ("val", "test")
    tiles = {split: source.tile_arrays(split, length) for split in splits}
    masks = {split: source.tile_softmask(split, length) for split in splits}
    b = cfg.baselines
    res = evaluate_baselines(
        source.segments("train"), tiles, b.one_sided_orders, b.two_sided_orders, b.alpha, masks=masks
    )
    out: dict = {"alpha": {r.name: r.alpha for r in res["val"]}}
    for split in splits:
        out[split] = {r.name: r.bits_per_base for r in res[split]}
        out[f"{split}_unmasked"] = {r.name: r.bits_per_base_unmasked for r in res[split]}
        out[f"{split}_positions"] = res[split][0].n_positions if res[split] else 0
    return out


def _macro(per_genome: dict[str, dict], split: str) -> dict[str, float]:
    """Each baseline's bits/base averaged over genomes (the same averaging as the model's macro value)."""
    names = set.intersection(*(set(g[split]) for g in per_genome.values()))
    return {n: sum(g[split][n] for g in per_genome.values()) / len(per_genome) for n in sorted(names)}


def compute_baselines(dm: PretrainDataModule, cfg: PretrainConfig, out: Path, elsewhere=()) -> dict:
    """k-mer baselines on exactly the val/test tiles of every genome, each fitted on that genome's train windows;
    cached in OUT/baselines.json (keyed by tiles + config). A cache with the same key in one of the ``elsewhere``
    folders (other runs of the same genomes) is copied instead of recomputing. One genome: its numbers at the top
    level; several: ``genomes[name]`` each, and ``val``/``test`` the mean over genomes."""
    key = _baseline_key(dm, cfg)
    path = out / "baselines.json"
    for folder in (out, *elsewhere):
        cached = _read_cache(Path(folder) / "baselines.json")
        if cached is not None and cached.get("key") == key:
            if Path(folder) != out:
                write_json(path, cached)
                log.info("k-mer baselines reused from %s (same tiles and settings)", folder)
            return cached
    t0 = time.perf_counter()
    per = {s.name: _genome_baselines(s, cfg, dm.cfg.eval_len) for s in dm.sources}
    result: dict = {"key": key, "tile_length": dm.cfg.eval_len}
    if len(per) == 1:
        result.update(next(iter(per.values())))
    else:
        result.update(genomes=per, val=_macro(per, "val"), test=_macro(per, "test"))
    result["seconds"] = time.perf_counter() - t0
    write_json(path, result)
    log.info("k-mer baselines on val/test tiles of %d genome(s) in %.1f s", len(per), result["seconds"])
    return result


def _read_cache(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # absent or half-written by an interrupted run: recompute
        return None


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


def genome_rows(summary: dict) -> list[dict]:
    """Per genome: sampling probability, model val/test bits/base and the best k-mer of each family on test."""
    rows = []
    for name, g in summary.get("genomes", {}).items():
        b = g.get("baselines", {})
        row = {"genome": name, "p_sample": g.get("sampling_probability")}
        row["model_test"] = g.get("test_bits_per_base")
        for family in ("two_sided", "one_sided"):
            best = best_of(b, "test", family)
            row[f"best_{family}"] = best
        rows.append(row)
    return rows


def format_table(summary: dict) -> str:
    """Model vs every baseline order, bits/base on val and test (a text table for logs and the README); with
    several genomes, one row per genome against its best k-mers instead, then the mean over genomes."""
    if len(summary.get("genomes", {})) > 1:
        return _genome_table(summary)
    b = summary.get("baselines", {})
    model = summary["test_best_model"].get("test/bits_per_base")
    rows = [("model (best by val)", summary.get("best_val_bits_per_base"), model)]
    rows += [(name, b["val"][name], b["test"].get(name)) for name in b.get("val", {})]
    lines = ["| predictor | val bits/base | test bits/base |", "|---|---:|---:|"]
    lines += [f"| {name} | {_fmt(v)} | {_fmt(t)} |" for name, v, t in rows]
    return "\n".join(lines)


def _genome_table(summary: dict) -> str:
    lines = [
        "| genome | p(sample) | model test bits/base | best two-sided k-mer | best one-sided k-mer "
        "| model - best k-mer |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in genome_rows(summary):
        kmers = [b for b in (r["best_two_sided"], r["best_one_sided"]) if b is not None]
        best = min((v for _, v in kmers), default=None)
        gap = None if best is None or r["model_test"] is None else r["model_test"] - best
        cells = [
            f"{r['p_sample']:.3f}" if r["p_sample"] is not None else "n/a",
            _fmt(r["model_test"]),
            *(f"{_fmt(b[1])} ({b[0]})" if b else "n/a" for b in (r["best_two_sided"], r["best_one_sided"])),
            "n/a" if gap is None else f"{gap:+.4f}",
        ]
        lines.append(f"| {r['genome']} | " + " | ".join(cells) + " |")
    model = summary["test_best_model"].get("test/bits_per_base")
    lines.append(f"| mean over genomes | | {_fmt(model)} | | | |")
    return "\n".join(lines)
