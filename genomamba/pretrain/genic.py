"""Gene-centric sampling (``data.genic_weight``): training crops over annotated exons are drawn more often.

GPN and PlantCaduceus users see models spend most of their tokens on intergenic and repeat sequence, while the
variants they score sit mostly in and around genes. With ``data.genic_weight: w > 1``, every source that has an
annotation (``data.sources[i].annotation``: a GFF3/GTF path, or ``auto`` for the annotation the genome registry
knows for the source's name) draws its crop starts by weight instead of uniformly:

* the exons of the annotation's transcripts (UTRs and CDS; splice sites are their edges) are merged into intervals
  in ``tokens.u8`` coordinates (0-based half-open, via contigs.parquet);
* the train crop starts of each stage length L are grouped in bins of ``BIN`` consecutive starts; a bin's weight is
  its number of starts x (1 + (w - 1) x f), f = the exonic fraction of the bases its crops cover;
* a sample picks a bin by weight and a start uniformly inside it.

So a crop that lies wholly in exons is up to ``w`` times as likely as one with none. The genomes' sampling
probabilities do not change, and sources without an annotation keep uniform starts. ``w = 1`` (the default) takes
the uniform code path: the same stream of crops as before the option existed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from genomamba.errors import GenomambaError

log = logging.getLogger(__name__)

BIN = 256  # crop starts per sampling bin: fine enough to follow exons, coarse enough to keep the tables small


def resolve_annotation(spec: str, source_name: str) -> Path | None:
    """``""`` -> None; ``auto`` -> the registry's annotation of ``source_name``; else the path (must exist)."""
    if not spec:
        return None
    if spec != "auto":
        path = Path(spec)
        if not path.is_file():
            raise GenomambaError(f"annotation of source {source_name!r} not found", path)
        return path
    from genomamba.genome.registry import resolve_genome

    try:
        _, gff = resolve_genome(source_name)
    except GenomambaError as exc:
        raise GenomambaError(f"source {source_name!r}: annotation 'auto' needs a known genome name ({exc})") from None
    if gff is None:
        raise GenomambaError(
            f"source {source_name!r}: annotation 'auto' but the registry knows no annotation for it "
            "(give a GFF3/GTF path, or '' for uniform sampling)"
        )
    return Path(gff)


def exon_intervals(annotation: Path, contigs) -> tuple[np.ndarray, np.ndarray]:
    """Merged exon intervals of every transcript, in tokens.u8 coordinates: (starts, ends) int64, sorted.

    ``contigs``: the windows directory's contigs table (name, offset, length). Transcripts on sequences that are not
    among the contigs are skipped; an annotation that matches none of them is an error.
    """
    from genomamba.finetune.gff import read_transcripts

    where = {n: (int(o), int(ln)) for n, o, ln in zip(contigs["name"], contigs["offset"], contigs["length"])}
    spans: list[tuple[int, int]] = []
    seen: set[str] = set()
    for t in read_transcripts(annotation):
        if t.chrom not in where:
            seen.add(t.chrom)
            continue
        offset, length = where[t.chrom]
        spans += [(offset + max(0, a), offset + min(b, length)) for a, b in t.sorted_exons() if min(b, length) > a]
    if not spans:
        raise GenomambaError(
            f"no transcript on the windows' sequences ({', '.join(list(where)[:3])}); the annotation names "
            f"{', '.join(sorted(seen)[:3]) or 'none'}",
            annotation,
        )
    spans.sort()
    starts, ends = [spans[0][0]], [spans[0][1]]
    for a, b in spans[1:]:
        if a <= ends[-1]:
            ends[-1] = max(ends[-1], b)
        else:
            starts.append(a)
            ends.append(b)
    return np.asarray(starts, np.int64), np.asarray(ends, np.int64)


def covered(starts: np.ndarray, ends: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Exonic bases in [0, x) for every x, from merged sorted intervals: (n,) int64."""
    x = np.asarray(x, np.int64)
    before = np.concatenate([[0], np.cumsum(ends - starts)])  # exonic bases in intervals 0..k-1
    k = np.searchsorted(starts, x, side="right")  # intervals starting before x
    inside = np.where(k > 0, np.minimum(x, ends[np.maximum(k - 1, 0)]) - starts[np.maximum(k - 1, 0)], 0)
    return before[np.maximum(k - 1, 0)] * (k > 0) + np.maximum(inside, 0)


def weighted_bins(
    windows: np.ndarray, length: int, exons: tuple[np.ndarray, np.ndarray], weight: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sampling bins of the crop starts of ``windows`` ((n, 2) offset, length) for crops of ``length``.

    Returns bin first starts (m,), starts per bin (m,) and the cumulative bin weights (m,) float64, where a bin's
    weight is count x (1 + (weight - 1) x exonic fraction of bases [first start, last start + length)).
    """
    firsts, counts = [], []
    for offset, n in windows:
        n_starts = int(n) - length + 1
        if n_starts <= 0:
            continue
        lo = np.arange(0, n_starts, BIN, dtype=np.int64)
        firsts.append(offset + lo)
        counts.append(np.minimum(BIN, n_starts - lo))
    first = np.concatenate(firsts) if firsts else np.zeros(0, np.int64)
    count = np.concatenate(counts) if counts else np.zeros(0, np.int64)
    span_end = first + count - 1 + length
    frac = (covered(*exons, span_end) - covered(*exons, first)) / (span_end - first)
    return first, count, np.cumsum(count * (1.0 + (weight - 1.0) * frac))


def pick(bins: tuple[np.ndarray, np.ndarray, np.ndarray], u: np.ndarray) -> np.ndarray:
    """Crop starts for uniform numbers ``u`` in [0, 1): a bin by weight, then a start inside it."""
    first, count, cum = bins
    target = u * cum[-1]
    b = np.minimum(np.searchsorted(cum, target, side="right"), cum.size - 1)
    lo = np.where(b > 0, cum[np.maximum(b - 1, 0)], 0.0)
    within = np.clip((target - lo) / (cum[b] - lo), 0.0, np.nextafter(1.0, 0.0))
    return first[b] + (within * count[b]).astype(np.int64)


def exonic_fraction(exons: tuple[np.ndarray, np.ndarray], windows: np.ndarray) -> float:
    """Exonic fraction of the bases of ``windows`` ((n, 2) offset, length)."""
    lo, hi = windows[:, 0], windows[:, 0] + windows[:, 1]
    return float((covered(*exons, hi) - covered(*exons, lo)).sum() / max(1, int(windows[:, 1].sum())))
