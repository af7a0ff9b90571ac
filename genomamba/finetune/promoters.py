"""Promoter task: TSS-centred windows (label ``promoter``) against background windows (label ``background``).

Background windows keep ``exclusion`` bases away from every TSS window and are GC-matched to the promoters in
quantile bins (``gc-matched``), additionally kept outside transcripts (``intergenic``), or drawn unmatched
(``random``); they never overlap each other.
"""

from __future__ import annotations

import bisect
import logging

import numpy as np
import polars as pl

from genomamba.errors import GenomambaError
from genomamba.finetune.gff import Transcript
from genomamba.finetune.task_config import PromoterTaskConfig, SplitConfig
from genomamba.finetune.task_table import assign_splits, oriented_window

log = logging.getLogger(__name__)


def _gc_prefix(seq: str) -> tuple[np.ndarray, np.ndarray]:
    """Prefix sums (L+1,) of G/C counts and of N (non-ACGT) counts over a chromosome string."""
    raw = np.frombuffer(seq.upper().encode("ascii"), dtype=np.uint8)
    gc = (raw == ord("G")) | (raw == ord("C"))
    acgt = gc | (raw == ord("A")) | (raw == ord("T"))
    return np.concatenate([[0], np.cumsum(gc)]), np.concatenate([[0], np.cumsum(~acgt)])


def _sample_background(
    genome,
    chroms: list[str],
    n_wanted: int,
    width: int,
    blocked: dict[str, np.ndarray],
    target_gc: np.ndarray,
    cfg_bins: int,
    max_n_fraction: float,
    rng: np.random.Generator,
    match_gc: bool,
) -> list[tuple[str, int, int, str, float]]:
    """Background windows avoiding ``blocked`` bases, GC-matched to ``target_gc`` quantile bins if ``match_gc``."""
    prefixes = {c: _gc_prefix(genome.fetch(c, 0, genome.contigs[c])) for c in chroms}
    blocked_prefix = {c: np.concatenate([[0], np.cumsum(blocked[c])]) for c in chroms}
    lengths = np.array([genome.contigs[c] - width for c in chroms], dtype=np.float64)
    if np.all(lengths <= 0):
        raise GenomambaError(f"every chromosome is shorter than the window ({width})")
    weights = np.clip(lengths, 0, None) / np.clip(lengths, 0, None).sum()
    edges = np.quantile(target_gc, np.linspace(0, 1, cfg_bins + 1)) if match_gc else np.array([0.0, 1.0])
    edges[0], edges[-1] = -np.inf, np.inf
    want = np.bincount(
        np.clip(np.searchsorted(edges, target_gc, side="right") - 1, 0, len(edges) - 2), minlength=len(edges) - 1
    )
    want = np.maximum(np.round(want / max(want.sum(), 1) * n_wanted).astype(int), 0)
    out: list[tuple[str, int, int, str, float]] = []
    taken: dict[str, list[int]] = {}
    tries, max_tries = 0, 200 * max(n_wanted, 1)
    while want.sum() > 0 and tries < max_tries:
        batch = 4096
        tries += batch
        ci = rng.choice(len(chroms), size=batch, p=weights)
        for c_i, u in zip(ci, rng.random(batch)):
            chrom = chroms[c_i]
            start = int(u * max(genome.contigs[chrom] - width, 0))
            end = start + width
            gc_p, n_p = prefixes[chrom]
            bp = blocked_prefix[chrom]
            if bp[end] - bp[start] > 0 or (n_p[end] - n_p[start]) > max_n_fraction * width:
                continue
            gc = (gc_p[end] - gc_p[start]) / width
            b = min(max(int(np.searchsorted(edges, gc, side="right") - 1), 0), len(want) - 1)
            if want[b] <= 0:
                continue
            taken_starts = taken.setdefault(chrom, [])
            j = bisect.bisect_right(taken_starts, start)
            # background windows do not overlap each other (all have the same width)
            if (j > 0 and taken_starts[j - 1] + width > start) or (j < len(taken_starts) and taken_starts[j] < end):
                continue
            taken_starts.insert(j, start)
            want[b] -= 1
            out.append((chrom, start, end, "+" if rng.random() < 0.5 else "-", float(gc)))
            if want.sum() == 0:
                break
    if want.sum() > 0:
        log.warning("background: found %d of %d windows (genome too small or too blocked)", len(out), n_wanted)
    return out


def build_promoters(genome, transcripts: list[Transcript], cfg: PromoterTaskConfig, split: SplitConfig) -> pl.DataFrame:
    """TSS-centred windows (label ``promoter``) vs background windows (label ``background``), split."""
    rng = np.random.default_rng(cfg.seed)
    rows = []
    seen: dict[tuple[str, str], list[int]] = {}
    for t in sorted(transcripts, key=lambda t: (t.chrom, t.tss)):
        chrom = genome.resolve(t.chrom)
        near = seen.setdefault((chrom, t.strand), [])
        if near and abs(t.tss - near[-1]) < cfg.min_tss_distance:
            continue
        start, end = oriented_window(t.tss, t.strand, cfg.window)
        if start < 0 or end > genome.contigs[chrom]:
            continue
        near.append(t.tss)
        rows.append((chrom, start, end, t.strand, f"tss:{t.id}", "promoter"))
    if not rows:
        raise GenomambaError("no TSS windows fit on the chromosomes (check the annotation and FASTA match)")
    blocked = {c: np.zeros(n, dtype=bool) for c, n in genome.contigs.items()}
    gcs = []
    for chrom, start, end, *_ in rows:
        blocked[chrom][max(start - cfg.exclusion, 0) : end + cfg.exclusion] = True
        seq = genome.fetch(chrom, start, end).upper()
        gcs.append((seq.count("G") + seq.count("C")) / len(seq))
    if cfg.background == "intergenic":
        for t in transcripts:
            chrom = genome.resolve(t.chrom)
            blocked[chrom][t.start : t.end] = True
    chroms = sorted({r[0] for r in rows})
    n_neg = int(round(cfg.negatives_per_positive * len(rows)))
    negatives = _sample_background(
        genome,
        chroms,
        n_neg,
        cfg.window,
        blocked,
        np.asarray(gcs),
        cfg.gc_bins,
        cfg.max_n_fraction,
        rng,
        match_gc=cfg.background != "random",
    )
    table = pl.DataFrame(
        {
            "chrom": [r[0] for r in rows] + [r[0] for r in negatives],
            "start": [r[1] for r in rows] + [r[1] for r in negatives],
            "end": [r[2] for r in rows] + [r[2] for r in negatives],
            "strand": [r[3] for r in rows] + [r[3] for r in negatives],
            "name": [r[4] for r in rows] + [f"bg:{r[0]}:{r[1]}" for r in negatives],
            "label": [r[5] for r in rows] + ["background"] * len(negatives),
            "gc": gcs + [r[4] for r in negatives],
        },
        schema_overrides={"start": pl.Int64, "end": pl.Int64},
    )
    return assign_splits(table.sort(["chrom", "start"]), split)
