"""Per-window statistics of ``genomamba windows``: N, G+C and soft-mask counts, the tail and N policies that drop
windows, and the QC numbers of qc.json (per chromosome, per split, in total)."""

from __future__ import annotations

import numpy as np

from genomamba.alphabet import N
from genomamba.atomic import file_digest

DROP_REASONS = ("short_tail", "max_n_frac")


class IntervalCounter:
    """Counts of N, G/C and soft-masked bases between consecutive cut points of one chromosome.

    The cuts are every window start and end, the chromosome ends and the chunk starts, so each chunk covers
    whole intervals (one ``np.add.reduceat`` per indicator) and any window's counts are a difference of
    prefix sums over the intervals: O(genome + windows) work and O(windows) memory, however much windows
    overlap.
    """

    def __init__(self, length: int, chunk: int, starts: np.ndarray, ends: np.ndarray):
        self.cuts = np.unique(np.concatenate([[0, length], np.arange(0, length, chunk), starts, ends]))
        self.counts = np.zeros((3, self.cuts.size - 1), dtype=np.int64)  # rows: N, GC, softmask

    def add(self, start: int, tokens: np.ndarray, softmask: np.ndarray) -> None:
        lo, hi = np.searchsorted(self.cuts, [start, start + tokens.size])  # cuts[lo] == start (a chunk start)
        local = self.cuts[lo:hi] - start
        indicators = (tokens == N, (tokens == 1) | (tokens == 2), softmask.view(bool))
        for row, ind in enumerate(indicators):
            self.counts[row, lo:hi] = np.add.reduceat(ind.view(np.uint8), local, dtype=np.int64)

    def window_counts(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """(3, n_windows) counts of N, GC, softmask for windows [starts, ends)."""
        cum = np.concatenate([np.zeros((3, 1), np.int64), np.cumsum(self.counts, axis=1)], axis=1)
        return cum[:, np.searchsorted(self.cuts, ends)] - cum[:, np.searchsorted(self.cuts, starts)]


def chrom_stats(length: int, splits: tuple[str, ...]) -> dict:
    """Empty per-chromosome QC counters (qc.json ``per_chromosome``)."""
    return {
        "length": length, "candidates": 0, "kept": 0,
        "dropped": dict.fromkeys(DROP_REASONS, 0), "kept_by_split": dict.fromkeys(splits, 0),
    }  # fmt: skip


def add_kept_windows(columns: dict, name: str, offset: int, tiles, bins: IntervalCounter, cfg, stats: dict) -> None:
    """Apply the tail and N policies to one chromosome's tiled windows; append the kept ones to ``columns``
    (chrom/split: str lists, the other columns: one array per segment) and count everything in ``stats``.

    ``tiles``: ``(segment, starts, ends, has_tail)`` per split segment; ``offset``: the chromosome's first base in
    tokens.u8.
    """
    for seg, starts, ends, has_tail in tiles:
        keep = np.ones(starts.size, dtype=bool)
        if has_tail and ends[-1] - starts[-1] < cfg.min_tail_bp:
            keep[-1] = False
            stats["dropped"]["short_tail"] += 1
        counts = bins.window_counts(starts, ends)
        span = (ends - starts).astype(np.float64)
        n_frac = counts[0] / span
        too_many_n = keep & (n_frac > cfg.max_n_frac)
        stats["dropped"]["max_n_frac"] += int(too_many_n.sum())
        keep &= ~too_many_n
        n_kept = int(keep.sum())
        stats["candidates"] += int(starts.size)
        stats["kept"] += n_kept
        stats["kept_by_split"][seg.split] += n_kept
        acgt = span - counts[0]
        gc_frac = np.divide(counts[1], acgt, out=np.zeros_like(span), where=acgt > 0)
        columns["chrom"].extend([name] * n_kept)
        columns["split"].extend([seg.split] * n_kept)
        for key, values in (
            ("start", starts), ("end", ends), ("offset", offset + starts), ("n_frac", n_frac),
            ("gc_frac", gc_frac), ("softmask_frac", counts[2] / span),
        ):  # fmt: skip
            columns[key].append(values[keep])


def dropped_totals(per_chrom: dict) -> dict:
    return {r: sum(s["dropped"][r] for s in per_chrom.values()) for r in DROP_REASONS}


def qc_numbers(genome, genome_name, cfg, segments, per_chrom, windows, warnings, splits) -> dict:
    """qc.json's genome, parameters, totals, splits, per-chromosome and segment sections."""
    totals = {
        "candidates": sum(s["candidates"] for s in per_chrom.values()),
        "kept": windows.height,
        "dropped": dropped_totals(per_chrom),
    }
    by_split = {}
    for split in splits:
        rows = windows.filter(windows["split"] == split)
        by_split[split] = {
            "windows": rows.height,
            "bases": int((rows["end"] - rows["start"]).sum() or 0),
            "chroms": sorted(set(rows["chrom"].to_list())),
            "segment_bases": sum(s.end - s.start for s in segments if s.split == split),
        }
    return {
        "genome": {
            "name": genome_name,
            "fasta": str(genome.path),
            "fasta_md5": file_digest(genome.path, "md5"),
            "sequences": len(genome.contigs),
            "total_length": sum(genome.contigs.values()),
        },
        "parameters": cfg.resolved(),
        "totals": totals,
        "splits": by_split,
        "per_chromosome": per_chrom,
        "segments": [[s.chrom, s.start, s.end, s.split] for s in segments],
        "warnings": warnings,
    }
