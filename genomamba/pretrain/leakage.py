"""Homolog guard: keep a relative's orthologs of a focal genome's held-out blocks out of training.

A relative is a different assembly with no coordinate map onto the focal genome, so its windows cannot be matched
to the focal val/test blocks by position. They are matched by sequence instead: a train window of another genome
is dropped when more than ``max_shared`` of its canonical k-mers (both strands, no N) occur in the held-out
(val + test) windows of a protected genome. At k = 24, two sequences at divergence d share about (1 - d)^24 of
their k-mers (0.29 at 5 %, 0.08 at 10 %) while unrelated sequence shares almost none, so a threshold of a few
percent separates orthologous windows of close relatives from the rest. k-mers touching a soft-masked (repeat)
base are left out on both sides, so shared transposon families do not count as orthology. Windows of a protected
genome are never screened against its own held-out set (they are disjoint blocks already).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from genomamba.pretrain.config import HomologGuardConfig
from genomamba.pretrain.sources import Source

log = logging.getLogger(__name__)


def canonical_kmers(tokens: np.ndarray, k: int) -> np.ndarray:
    """(L,) uint8 tokens -> (m,) uint64 codes of every k-mer without N, min(forward, reverse complement); 2 bits a
    base, first base most significant."""
    n = tokens.size - k + 1
    if n <= 0:
        return np.zeros(0, np.uint64)
    ok = tokens < 4
    bad = np.concatenate([[0], np.cumsum(~ok)])
    clean = (bad[k:] - bad[:-k]) == 0  # (n,) k-mer starting at i has no N
    t = np.where(ok, tokens, 0).astype(np.uint64)
    fwd = np.zeros(n, np.uint64)
    rev = np.zeros(n, np.uint64)
    for j in range(k):
        fwd = (fwd << np.uint64(2)) | t[j : j + n]
        rev |= (np.uint64(3) - t[j : j + n]) << np.uint64(2 * j)  # complement of base j, at reversed position
    return np.minimum(fwd, rev)[clean]


def held_out_kmers(source: Source, k: int) -> np.ndarray:
    """Sorted unique canonical k-mers of the val and test windows of ``source``."""
    parts = [canonical_kmers(seg, k) for split in ("val", "test") for seg in source.segments(split, unmasked=True)]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.uint64)


def shared_fraction(kmers: np.ndarray, guarded: list[np.ndarray]) -> float:
    """Fraction of ``kmers`` found in any of the sorted arrays ``guarded``."""
    if kmers.size == 0:
        return 0.0
    hit = np.zeros(kmers.size, bool)
    for ref in guarded:
        if ref.size:
            idx = np.minimum(np.searchsorted(ref, kmers), ref.size - 1)
            hit |= ref[idx] == kmers
    return float(hit.mean())


def apply_homolog_guard(sources: list[Source], cfg: HomologGuardConfig) -> dict:
    """Drop the screened train windows (in place) and return what was done, per genome, for the summary."""
    t0 = time.perf_counter()
    protected = {s.name: held_out_kmers(s, cfg.k) for s in sources if s.name in cfg.protect}
    report: dict = {"k": cfg.k, "max_shared": cfg.max_shared, "protect": list(cfg.protect), "genomes": {}}
    for s in sources:
        guarded = [kmers for name, kmers in protected.items() if name != s.name]
        if not guarded:
            continue
        segments = s.segments("train", unmasked=True)
        fractions = np.array([shared_fraction(canonical_kmers(seg, cfg.k), guarded) for seg in segments])
        keep = fractions <= cfg.max_shared
        lengths = s.splits["train"][:, 1]
        report["genomes"][s.name] = {
            "train_windows": int(keep.size),
            "dropped_windows": int((~keep).sum()),
            "dropped_bases": int(lengths[~keep].sum()),
            "median_shared": float(np.median(fractions)) if fractions.size else 0.0,
            "max_shared_seen": float(fractions.max()) if fractions.size else 0.0,
        }
        s.drop_train_windows(keep)
    report["seconds"] = round(time.perf_counter() - t0, 2)
    log.info("homolog guard (k=%d, max shared %.3f) in %.1f s: %s", cfg.k, cfg.max_shared, report["seconds"],
             {n: g["dropped_windows"] for n, g in report["genomes"].items()})  # fmt: skip
    return report
