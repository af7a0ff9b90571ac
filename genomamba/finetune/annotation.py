"""GFF3/GTF transcripts and the task builders behind ``genomamba make-task`` (promoters, splice sites).

Output of both builders: a table with one labeled interval per row, ``chrom, start, end`` (0-based half-open),
``strand``, ``name``, ``label``, ``split``, ``gc`` -- the interval layout ``genomamba.finetune.datasets`` reads with a
FASTA. Windows are oriented: on ``-`` the sequence is reverse-complemented, so the site sits at the same offset
(``window // 2``) on either strand.

Splits never let a test element overlap a training one: elements are dealt to train/val/test by whole chromosome
or by chromosome block (the block holding the window centre), then any element that still overlaps an element of
another split is dropped from the less protected split (train before val before test). ``check_split_overlap``
verifies the result.
"""

from __future__ import annotations

import bisect
import gzip
import logging
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from genomamba.errors import GenomambaError
from genomamba.genome.splits import SPLITS, explicit_hold_out, hold_out, label_map

log = logging.getLogger(__name__)

DEFAULT_TRANSCRIPT_TYPES = ("mRNA", "transcript")


@dataclass
class Transcript:
    id: str
    gene: str
    chrom: str
    start: int  # 0-based half-open span
    end: int
    strand: str
    exons: list[tuple[int, int]] = field(default_factory=list)  # sorted, 0-based half-open

    @property
    def tss(self) -> int:
        """0-based position of the first transcribed base."""
        return self.start if self.strand == "+" else self.end - 1

    def sorted_exons(self) -> list[tuple[int, int]]:
        return sorted(self.exons) if self.exons else [(self.start, self.end)]


def _open_text(path: Path):
    raw = path.open("rb")
    magic = raw.read(2)
    raw.close()
    return gzip.open(path, "rt") if magic == b"\x1f\x8b" else path.open("rt")


def _attributes(text: str, gtf: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.strip().strip(";").split(";"):
        part = part.strip()
        if not part:
            continue
        if gtf:
            key, _, value = part.partition(" ")
            out[key] = value.strip().strip('"')
        else:
            key, _, value = part.partition("=")
            out[key] = urllib.parse.unquote(value)
    return out


def read_transcripts(
    path: str | Path, transcript_types: tuple[str, ...] = DEFAULT_TRANSCRIPT_TYPES
) -> list[Transcript]:
    """Transcripts (with exons) from GFF3 or GTF (gzip allowed); format decided by the attribute syntax.

    GFF3: features whose type is in ``transcript_types`` (ID, Parent = gene), exons by Parent.
    GTF: ``transcript`` lines when present, else spans derived from the exons of each transcript_id.
    """
    path = Path(path)
    if not path.is_file():
        raise GenomambaError("annotation file not found", path)
    transcripts: dict[str, Transcript] = {}
    exons: dict[str, list[tuple[int, int]]] = {}
    exon_meta: dict[str, tuple[str, str, str]] = {}
    gtf: bool | None = None
    wanted = set(transcript_types)
    with _open_text(path) as fh:
        try:
            lines = list(fh)
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise GenomambaError(f"cannot read annotation ({exc})", path) from None
    for lineno, line in enumerate(lines, start=1):
        if line.startswith("##FASTA"):
            break
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.rstrip("\n\r").split("\t")
        where = f"line {lineno}"
        if len(cols) != 9:
            raise GenomambaError(f"expected 9 tab-separated GFF/GTF columns, found {len(cols)}", path, where)
        chrom, _, ftype, start_s, end_s, _, strand, _, attr_text = cols
        if not (start_s.isdigit() and end_s.isdigit()):
            raise GenomambaError(f"start/end must be integers, got {start_s!r}, {end_s!r}", path, where)
        start, end = int(start_s) - 1, int(end_s)  # 1-based closed -> 0-based half-open
        if start < 0 or end <= start:
            raise GenomambaError(f"invalid feature span {start_s}..{end_s}", path, where)
        if gtf is None:
            gtf = "=" not in attr_text.split(";")[0]
        attrs = _attributes(attr_text, gtf)
        if gtf:
            tid = attrs.get("transcript_id")
            if tid is None:
                continue
            if ftype == "exon":
                exons.setdefault(tid, []).append((start, end))
                exon_meta[tid] = (chrom, strand, attrs.get("gene_id", tid))
            elif ftype in wanted and strand in "+-":
                transcripts[tid] = Transcript(tid, attrs.get("gene_id", tid), chrom, start, end, strand)
        elif ftype in wanted:
            if strand not in ("+", "-"):
                continue  # unstranded transcripts have no defined TSS or splice orientation
            tid = attrs.get("ID") or f"{chrom}:{start}-{end}{strand}"
            transcripts[tid] = Transcript(tid, attrs.get("Parent", tid), chrom, start, end, strand)
        elif ftype == "exon":
            for parent in attrs.get("Parent", "").split(","):
                if parent:
                    exons.setdefault(parent, []).append((start, end))
    if gtf:
        for tid, ex in exons.items():
            if tid not in transcripts:
                chrom, strand, gene = exon_meta[tid]
                if strand in ("+", "-"):
                    lo, hi = min(s for s, _ in ex), max(e for _, e in ex)
                    transcripts[tid] = Transcript(tid, gene, chrom, lo, hi, strand)
    for tid, t in transcripts.items():
        t.exons = sorted(exons.get(tid, []))
    if not transcripts:
        raise GenomambaError(f"no transcripts of type {', '.join(transcript_types)} found", path)
    return list(transcripts.values())


# --------------------------------------------------------------------------------------------------- windows


def oriented_window(site: int, strand: str, width: int) -> tuple[int, int]:
    """[start, end) of a ``width`` window with ``site`` at offset ``width // 2`` of the strand-oriented sequence."""
    up = width // 2
    if strand == "+":
        return site - up, site - up + width
    return site + up + 1 - width, site + up + 1


def _gc_prefix(seq: str) -> tuple[np.ndarray, np.ndarray]:
    """Prefix sums (L+1,) of G/C counts and of N (non-ACGT) counts over a chromosome string."""
    raw = np.frombuffer(seq.upper().encode("ascii"), dtype=np.uint8)
    gc = (raw == ord("G")) | (raw == ord("C"))
    acgt = gc | (raw == ord("A")) | (raw == ord("T"))
    return np.concatenate([[0], np.cumsum(gc)]), np.concatenate([[0], np.cumsum(~acgt)])


@dataclass
class SplitConfig:
    """How task elements are dealt to train/val/test: whole chromosomes or chromosome blocks (the block holding
    each window centre), by fractions of the elements or by explicit held-out chromosomes."""

    split_by: Literal["block", "chromosome"] = "block"
    block_size: int = 20000  # bp per block (split_by=block)
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train, val, test share of the elements
    seed: int = 0
    val_chroms: tuple[str, ...] = ()  # split_by=chromosome: explicit held-out chromosomes (fractions ignored)
    test_chroms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.split_by not in ("block", "chromosome"):
            raise ValueError(f"split_by must be block or chromosome, got {self.split_by!r}")
        if self.block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {self.block_size}")
        fr = tuple(self.fractions)
        if len(fr) != 3 or any(f < 0 for f in fr) or abs(sum(fr) - 1) > 1e-6 or fr[0] <= 0:
            raise ValueError(f"split fractions must be 3 numbers >= 0 summing to 1, train > 0: {list(fr)}")
        if (self.val_chroms or self.test_chroms) and self.split_by != "chromosome":
            raise ValueError("val_chroms/test_chroms need split_by=chromosome")

    @property
    def val_frac(self) -> float:
        return self.fractions[1]

    @property
    def test_frac(self) -> float:
        return self.fractions[2]


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


# ----------------------------------------------------------------------------------------------- task builders


@dataclass
class PromoterTaskConfig:
    window: int = 300
    background: str = "gc-matched"  # gc-matched | intergenic (gc-matched, outside transcripts) | random
    negatives_per_positive: float = 1.0
    min_tss_distance: int = 50  # TSSs closer than this on the same strand are one positive
    exclusion: int = 500  # background windows keep this far from every TSS window
    max_n_fraction: float = 0.1
    gc_bins: int = 10
    seed: int = 0


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
    if cfg.window < 2:
        raise GenomambaError(f"window must be >= 2, got {cfg.window}")
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
    elif cfg.background not in ("gc-matched", "random"):
        raise GenomambaError(f"background must be gc-matched, intergenic or random, got {cfg.background!r}")
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


@dataclass
class SpliceTaskConfig:
    window: int = 400
    decoys_per_site: float = 1.0  # decoys per (donor + acceptor) / 2
    exclusion: int = 20  # decoys keep this far from every annotated splice site
    min_intron: int = 4
    seed: int = 0


def splice_sites(transcripts: list[Transcript]) -> set[tuple[str, int, str, str]]:
    """Annotated (chrom, site, strand, kind) with site = the intron's first (donor) or last (acceptor) base."""
    out = set()
    for t in transcripts:
        ex = t.sorted_exons()
        for (_, a_end), (b_start, _) in zip(ex, ex[1:]):
            lo, hi = a_end, b_start  # intron [lo, hi)
            if hi - lo < 4:
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
    sites = splice_sites(transcripts)
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


def write_task(table: pl.DataFrame, out: str | Path) -> None:
    """Write a task table atomically: Parquet for ``.parquet``, else TSV (gzip for ``.gz``)."""
    from genomamba.atomic import atomic_file

    out = Path(out)
    with atomic_file(out) as tmp:
        if out.name.endswith(".parquet"):
            table.write_parquet(tmp)
        elif out.name.endswith(".gz"):
            with gzip.open(tmp, "wb") as fh:
                table.write_csv(fh, separator="\t")
        else:
            table.write_csv(tmp, separator="\t")


def task_summary(table: pl.DataFrame) -> dict:
    """Counts per split and label, and the number of cross-split overlaps (must be 0)."""
    counts = table.group_by(["split", "label"]).len().sort(["split", "label"])
    out: dict = {"n": table.height, "cross_split_overlaps": check_split_overlap(table)}
    for split, label, n in counts.iter_rows():
        out.setdefault(split, {})[label] = n
    return out
