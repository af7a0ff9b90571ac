"""Train/val/test hold-out: the one seeded way every stage deals units (bases, rows, elements) into splits.

``hold_out(weights, val_frac, test_frac, seed)`` assigns units of the given weights: in a seeded random order, val
then test take the units that still fit in their fraction of the total weight; a split asked for (fraction > 0)
that nothing fits gets the smallest free unit, so even a tiny input gets held-out data; one unit always stays in
train. Each held-out split therefore lands within one unit of its target weight (below it, unless it took the
fallback unit). ``explicit_hold_out`` holds out named units instead.

Callers: the windows directory (units = chromosomes or blocks, weights = bases, ``plan_segments`` here), task tables
from an annotation (units = chromosomes or blocks, weights = elements) and re-dealt labeled datasets (units = rows).
This module takes plain fractions and imports neither of them.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np

from genomamba.errors import GenomambaError

if TYPE_CHECKING:
    from genomamba.genome.fasta import Genome

SPLITS = ("train", "val", "test")  # later = more protected when a caller resolves overlaps
HELD_OUT = ("val", "test")
# split names found in input tables and file names, normalised to SPLITS
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "dev": "val",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
}

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class HoldOut:
    """Labels (``train``/``val``/``test``, one per unit, in the units' order) and the held-out splits that were
    asked for (fraction > 0 or names given) but got no unit."""

    labels: list[str]
    empty: list[str]


def hold_out(weights: Sequence[float], val_frac: float, test_frac: float, seed: int) -> HoldOut:
    """Deal units of ``weights`` (>= 0) into train/val/test by fractions of the total weight (see the module doc)."""
    if val_frac < 0 or test_frac < 0 or val_frac + test_frac >= 1:
        raise ValueError(f"val and test fractions must be >= 0 and sum to < 1, got {val_frac} and {test_frac}")
    labels = ["train"] * len(weights)
    order = [int(i) for i in np.random.default_rng(seed).permutation(len(weights))]
    total, n_train = float(sum(weights)), len(weights)
    empty = []
    for split, frac in (("val", val_frac), ("test", test_frac)):
        need = frac * total
        for i in order:
            if n_train <= 1:
                break
            if labels[i] == "train" and 0 < weights[i] <= need:
                labels[i], need, n_train = split, need - weights[i], n_train - 1
        free = [i for i in order if labels[i] == "train"]
        if frac > 0 and split not in labels and len(free) > 1:
            labels[min(free, key=lambda i: weights[i])] = split
            n_train -= 1
        if frac > 0 and split not in labels:
            empty.append(split)
    return HoldOut(labels, empty)


def explicit_hold_out(units: Sequence[K], val: Collection[K], test: Collection[K]) -> HoldOut:
    """``val``/``test`` units as named, every other unit train; a unit named for both is an error. Names that are
    not among ``units`` are ignored (a held-out split they leave empty is reported in ``empty``)."""
    val_set, test_set = set(val), set(test)
    both = [u for u in val if u in test_set]
    if both:
        raise GenomambaError(f"sequence {both[0]!r} is listed in both val_chroms and test_chroms")
    labels = ["val" if u in val_set else "test" if u in test_set else "train" for u in units]
    return HoldOut(labels, [s for s in HELD_OUT if s not in labels])


def label_map(units: Sequence[K], result: HoldOut) -> dict[K, str]:
    """``{unit: split}`` for units in the order ``hold_out`` saw them."""
    return dict(zip(units, result.labels))


# -------------------------------------------------------------------------------- windows: split segments
class SegmentPlan(Protocol):
    """The fields of ``genomamba.genome.windows.WindowsConfig`` that planning reads."""

    split_by: str
    val_frac: float
    test_frac: float
    val_chroms: list[str]
    test_chroms: list[str]
    seed: int

    @property
    def min_tail_bp(self) -> int: ...

    @property
    def block_bp(self) -> int: ...


@dataclass(frozen=True)
class Segment:
    """A stretch of one chromosome that belongs to one split; windows are tiled inside it."""

    chrom: str
    start: int
    end: int
    split: str


def _empty_warning(split: str, n_units: int) -> str:
    return f"{split} split is empty: only {n_units} unit(s) long enough to hold a window"


def _chromosome_splits(genome: Genome, cfg: SegmentPlan) -> tuple[dict[str, str], list[str]]:
    """``{chromosome: split}`` and warnings for ``split_by=chromosome``."""
    contigs = genome.contigs
    split_of = dict.fromkeys(contigs, "train")
    if cfg.val_chroms or cfg.test_chroms:
        val = [genome.resolve(n) for n in cfg.val_chroms]
        test = [genome.resolve(n) for n in cfg.test_chroms]
        result = explicit_hold_out(list(contigs), val, test)
        split_of.update(label_map(list(contigs), result))
        return split_of, [f"{s} split is empty" for s in result.empty]
    usable = cfg.min_tail_bp  # a unit shorter than this can never hold a kept window
    names = [c for c, n in contigs.items() if n >= usable]
    if len(names) < 2 and (cfg.val_frac or cfg.test_frac):
        raise GenomambaError(
            f"split_by=chromosome needs at least 2 sequences of >= {usable:,} bp to hold some out "
            f"(found {len(names)}); use split_by=block",
            genome.path,
        )
    result = hold_out([contigs[c] for c in names], cfg.val_frac, cfg.test_frac, cfg.seed)
    split_of.update(label_map(names, result))
    return split_of, [_empty_warning(s, len(names)) for s in result.empty]


def plan_segments(genome: Genome, cfg: SegmentPlan) -> tuple[list[Segment], list[str]]:
    """Cut every chromosome into split segments (FASTA order). Returns (segments, warnings)."""
    if cfg.split_by == "chromosome":
        split_of, warnings = _chromosome_splits(genome, cfg)
        return [Segment(c, 0, n, split_of[c]) for c, n in genome.contigs.items() if n > 0], warnings

    # split_by=block: blocks of block_size from each chromosome start, pooled over the genome
    usable = cfg.min_tail_bp
    step = cfg.block_bp
    blocks = [(c, s, min(n, s + step)) for c, n in genome.contigs.items() for s in range(0, n, step)]
    eligible = [i for i, (_, s, e) in enumerate(blocks) if e - s >= usable]
    result = hold_out([blocks[i][2] - blocks[i][1] for i in eligible], cfg.val_frac, cfg.test_frac, cfg.seed)
    warnings = [_empty_warning(s, len(eligible)) for s in result.empty]
    split = ["train"] * len(blocks)
    for i, label in zip(eligible, result.labels):
        split[i] = label
    blocks, split, warnings = _share_held_out_block(blocks, split, warnings, cfg)
    for i, (_, s, e) in enumerate(blocks):  # a too-short block joins the previous block of its chromosome
        if e - s < usable and i > 0 and s > 0:
            split[i] = split[i - 1]
    segments: list[Segment] = []
    for (c, s, e), label in zip(blocks, split):
        last = segments[-1] if segments else None
        if last is not None and last.chrom == c and last.split == label and last.end == s:
            segments[-1] = Segment(c, last.start, e, label)
        else:
            segments.append(Segment(c, s, e, label))
    return segments, warnings


def _share_held_out_block(blocks, split, warnings, cfg: SegmentPlan):
    """If val or test got no block (too few blocks, e.g. one chromosome of one full window plus a tail), cut
    the smallest block held out for the other split in two, in proportion to their fractions, when both
    parts can hold a window (>= min_tail). Returns (blocks, split, warnings)."""
    fracs = {"val": cfg.val_frac, "test": cfg.test_frac}
    for empty, other in (("val", "test"), ("test", "val")):
        if fracs[empty] <= 0 or empty in split or other not in split:
            continue
        least = max(1, cfg.min_tail_bp)
        candidates = [i for i, (_, s, e) in enumerate(blocks) if split[i] == other and e - s >= 2 * least]
        if not candidates:
            continue
        i = min(candidates, key=lambda k: blocks[k][2] - blocks[k][1])
        chrom, s, e = blocks[i]
        cut = s + round((e - s) * fracs[other] / (fracs[other] + fracs[empty]))
        cut = min(max(cut, s + least), e - least)
        blocks = [*blocks[:i], (chrom, s, cut), (chrom, cut, e), *blocks[i + 1 :]]
        split = [*split[:i], other, empty, *split[i + 1 :]]
        warnings = [w for w in warnings if not w.startswith(f"{empty} split is empty")]
    return blocks, split, warnings
