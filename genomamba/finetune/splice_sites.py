"""Splice-site task: donor / acceptor windows centred on annotated intron ends against GT/AG-matched decoys.

A site is the intron's first base (donor) or last base (acceptor) on the transcript strand; decoys are motif
matches inside transcripts that are at least ``exclusion`` bases from every annotated site.
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from genomamba.errors import GenomambaError
from genomamba.finetune.gff import Transcript
from genomamba.finetune.task_config import SpliceTaskConfig, SplitConfig
from genomamba.finetune.task_table import assign_splits, oriented_window

log = logging.getLogger(__name__)


def splice_sites(transcripts: list[Transcript], min_intron: int = 4) -> set[tuple[str, int, str, str]]:
    """Annotated (chrom, site, strand, kind) with site = the intron's first (donor) or last (acceptor) base, for
    introns of at least ``min_intron`` bases."""
    out = set()
    for t in transcripts:
        ex = t.sorted_exons()
        for (_, a_end), (b_start, _) in zip(ex, ex[1:]):
            lo, hi = a_end, b_start  # intron [lo, hi)
            if hi - lo < min_intron:
                continue
            if t.strand == "+":
                out.add((t.chrom, lo, "+", "donor"))
                out.add((t.chrom, hi - 1, "+", "acceptor"))
            else:
                out.add((t.chrom, hi - 1, "-", "donor"))
                out.add((t.chrom, lo, "-", "acceptor"))
    return out


# dinucleotide around a site in forward-strand letters: (offset of its first letter from the site, motif)
_DECOY_MOTIFS = {
    ("+", "donor"): (0, "GT"),
    ("+", "acceptor"): (-1, "AG"),
    ("-", "donor"): (-1, "AC"),
    ("-", "acceptor"): (0, "CT"),
}


def build_splice_sites(
    genome, transcripts: list[Transcript], cfg: SpliceTaskConfig, split: SplitConfig
) -> pl.DataFrame:
    """Donor / acceptor windows from annotated introns and GT/AG-matched decoys inside transcripts, split."""
    rng = np.random.default_rng(cfg.seed)
    sites = splice_sites(transcripts, cfg.min_intron)
    rows = []
    near = {c: np.zeros(n, dtype=bool) for c, n in genome.contigs.items()}
    canonical = 0
    for chrom_raw, site, strand, kind in sorted(sites):
        chrom = genome.resolve(chrom_raw)
        start, end = oriented_window(site, strand, cfg.window)
        near[chrom][max(site - cfg.exclusion, 0) : site + cfg.exclusion + 1] = True
        if start < 0 or end > genome.contigs[chrom]:
            continue
        off, motif = _DECOY_MOTIFS[(strand, kind)]
        canonical += genome.fetch(chrom, site + off, site + off + 2).upper() == motif
        rows.append((chrom, start, end, strand, f"{kind}:{chrom}:{site}{strand}", kind))
    if not rows:
        raise GenomambaError("no annotated introns: the annotation has no multi-exon transcripts")
    log.info("splice sites: %d, of which %d with the canonical GT/AG dinucleotide", len(rows), canonical)
    n_decoy = int(round(cfg.decoys_per_site * len(rows) / 2))
    spans = [(genome.resolve(t.chrom), t.start, t.end, t.strand) for t in transcripts]
    decoys = []
    used = set()
    motif_hits: dict[tuple[str, int, int, str], list[int]] = {}
    kinds = ("donor", "acceptor")
    for i in range(200 * max(n_decoy, 1)):
        if len(decoys) >= n_decoy:
            break
        chrom, lo, hi, strand = spans[rng.integers(len(spans))]
        kind = kinds[i % 2]
        off, motif = _DECOY_MOTIFS[(strand, kind)]
        key = (chrom, lo, hi, motif)
        if key not in motif_hits:
            motif_hits[key] = list(_find_all(genome.fetch(chrom, lo, hi).upper(), motif))
        hits = motif_hits[key]
        if not hits:
            continue
        site = lo + hits[rng.integers(len(hits))] - off
        start, end = oriented_window(site, strand, cfg.window)
        if near[chrom][site] or (chrom, site, strand) in used or start < 0 or end > genome.contigs[chrom]:
            continue
        used.add((chrom, site, strand))
        decoys.append((chrom, start, end, strand, f"decoy-{kind}:{chrom}:{site}{strand}", "decoy"))
    if len(decoys) < n_decoy:
        log.warning("splice decoys: found %d of %d", len(decoys), n_decoy)
    rows += decoys
    table = pl.DataFrame(
        {
            "chrom": [r[0] for r in rows],
            "start": [r[1] for r in rows],
            "end": [r[2] for r in rows],
            "strand": [r[3] for r in rows],
            "name": [r[4] for r in rows],
            "label": [r[5] for r in rows],
        },
        schema_overrides={"start": pl.Int64, "end": pl.Int64},
    )
    return assign_splits(table.sort(["chrom", "start"]), split)


def _find_all(seq: str, motif: str):
    i = seq.find(motif)
    while i >= 0:
        yield i
        i = seq.find(motif, i + 1)
