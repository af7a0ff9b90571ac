"""The task table ``genomamba make-task`` writes: one labeled, oriented window per row, split without leaks.

Columns: ``chrom, start, end`` (0-based half-open), ``strand``, ``name``, ``label``, ``split`` (and ``gc`` for
promoters) -- the interval layout ``genomamba.finetune.datasets`` reads with a FASTA. Windows are oriented: on ``-``
the sequence is reverse-complemented, so the site sits at the same offset (``window // 2``) on either strand.

Splits never let a test element overlap a training one: elements are dealt to train/val/test by whole chromosome
or by chromosome block (the block holding the window centre) with ``genomamba.genome.splits``, then any element that
still overlaps an element of another split is dropped from the less protected split (train before val before
test). ``check_split_overlap`` verifies the result.
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import polars as pl

from genomamba.errors import GenomambaError
from genomamba.finetune.task_config import SplitConfig
from genomamba.genome.splits import SPLITS, explicit_hold_out, hold_out, label_map

log = logging.getLogger(__name__)


def oriented_window(site: int, strand: str, width: int) -> tuple[int, int]:
    """[start, end) of a ``width`` window with ``site`` at offset ``width // 2`` of the strand-oriented sequence."""
    up = width // 2
    if strand == "+":
        return site - up, site - up + width
    return site + up + 1 - width, site + up + 1


def assign_splits(table: pl.DataFrame, cfg: SplitConfig) -> pl.DataFrame:
    """Add a ``split`` column by chromosome or block, then drop cross-split overlaps (train first).

    Units (chromosomes or blocks) are dealt by ``genomamba.genome.splits`` weighted by their number of elements,
    so the fractions are fractions of the table's rows, each held-out split within one unit of its target.
    """
    chroms = table["chrom"].to_list()
    if cfg.split_by == "chromosome":
        keys: list = chroms
    else:
        centre = ((table["start"] + table["end"]) // 2).to_numpy()
        keys = [(c, int(x) // cfg.block_size) for c, x in zip(chroms, centre)]
    units = sorted(set(keys))
    if cfg.val_chroms or cfg.test_chroms:
        result = explicit_hold_out(units, cfg.val_chroms, cfg.test_chroms)
    else:
        wanted = 1 + (cfg.val_frac > 0) + (cfg.test_frac > 0)
        if cfg.split_by == "chromosome" and len(units) < wanted:
            raise GenomambaError(
                f"split by chromosome needs >= {wanted} chromosomes, found {len(units)}: use --split-by block"
            )
        per_unit = Counter(keys)
        result = hold_out([per_unit[u] for u in units], cfg.val_frac, cfg.test_frac, cfg.seed)
    for split in result.empty:
        log.warning("%s split is empty: %d %s unit(s) to deal", split, len(units), cfg.split_by)
    mapping = label_map(units, result)
    table = table.with_columns(pl.Series("split", [mapping[k] for k in keys]))
    return drop_cross_split_overlaps(table)


def drop_cross_split_overlaps(table: pl.DataFrame) -> pl.DataFrame:
    """Drop elements overlapping an element of a more protected split (test > val > train)."""
    rank = {s: i for i, s in enumerate(SPLITS)}  # later = more protected
    keep = np.ones(table.height, dtype=bool)
    starts, ends = table["start"].to_numpy(), table["end"].to_numpy()
    ranks = np.array([rank[s] for s in table["split"].to_list()])
    chroms = np.array(table["chrom"].to_list(), dtype=object)
    for chrom in np.unique(chroms):
        idx = np.flatnonzero(chroms == chrom)
        for r in (2, 1):  # protect test against val/train, then val against train
            prot = idx[ranks[idx] == r]
            if prot.size == 0:
                continue
            order = np.argsort(starts[prot])
            ps, pe = starts[prot][order], np.maximum.accumulate(ends[prot][order])
            low = idx[(ranks[idx] < r) & keep[idx]]
            # an interval [s, e) overlaps some protected one iff the last protected start < e has end > s
            j = np.searchsorted(ps, ends[low], side="left") - 1
            hit = (j >= 0) & (pe[np.clip(j, 0, None)] > starts[low])
            keep[low[hit]] = False
    dropped = int((~keep).sum())
    if dropped:
        log.info("dropped %d elements overlapping an element of a more protected split", dropped)
    return table.filter(pl.Series(keep))


def check_split_overlap(table: pl.DataFrame) -> int:
    """Number of (element, element) pairs from different splits that overlap (0 for a clean split)."""
    n = 0
    for _, part in table.group_by(["chrom"]):
        part = part.sort("start")
        s, e, sp = part["start"].to_numpy(), part["end"].to_numpy(), part["split"].to_list()
        for i in range(len(s)):
            j = i + 1
            while j < len(s) and s[j] < e[i]:
                n += sp[i] != sp[j]
                j += 1
    return n


def task_summary(table: pl.DataFrame) -> dict:
    """Counts per split and label, and the number of cross-split overlaps (must be 0)."""
    counts = table.group_by(["split", "label"]).len().sort(["split", "label"])
    out: dict = {"n": table.height, "cross_split_overlaps": check_split_overlap(table)}
    for split, label, n in counts.iter_rows():
        out.setdefault(split, {})[label] = n
    return out
