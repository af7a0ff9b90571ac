"""Regions of the genome to compute tracks or mutagenesis on, 0-based half-open inside, in FASTA order.

Accepted forms: ``chr:start-end`` (1-based inclusive, as genome browsers and VCF show them; several separated by
commas), a bare sequence name or ``all`` (whole sequences), a BED file (0-based half-open), or annotated genes
(``gene_regions``: named genes, or the first N, widened by a flank). Names resolve through the FASTA's aliases
(chr1 <-> 1); overlapping or touching regions merge, so every base is computed once and bigWig entries come in the
order the format requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genomamba.errors import GenomambaError


@dataclass(frozen=True)
class Region:
    contig: str
    start: int
    end: int
    name: str = ""

    @property
    def length(self) -> int:
        return self.end - self.start

    def __str__(self) -> str:  # 1-based inclusive, for messages and figure titles
        return f"{self.contig}:{self.start + 1:,}-{self.end:,}"


def merge_regions(regions: list[Region], genome) -> list[Region]:
    """Sorted in FASTA order, overlapping / touching regions merged (the first one's name kept)."""
    order = {name: i for i, name in enumerate(genome.contigs)}
    out: list[Region] = []
    for r in sorted(regions, key=lambda r: (order[r.contig], r.start, r.end)):
        if out and out[-1].contig == r.contig and r.start <= out[-1].end:
            last = out[-1]
            out[-1] = Region(last.contig, last.start, max(last.end, r.end), last.name)
        else:
            out.append(r)
    return out


def parse_regions(text: str, genome) -> list[Region]:
    """``chr:start-end,...`` / names / ``all`` / a BED file -> merged regions clipped to the sequences."""
    from genomamba.vep.vcf_io import parse_regions as parse_text

    if text == "all":
        return [Region(name, 0, length) for name, length in genome.contigs.items() if length]
    out = []
    for chrom, start, end in parse_text(text):
        contig = genome.resolve(chrom)
        length = genome.contigs[contig]
        if start >= length:
            raise GenomambaError(f"region {chrom}:{start + 1} starts past the end of {contig} (length {length:,})")
        out.append(Region(contig, start, min(end, length)))
    return merge_regions(out, genome)


def _annotation_path(spec: str) -> Path:
    """A GFF3/GTF path, or a genome name whose bundled annotation is used."""
    path = Path(spec)
    if path.is_file():
        return path
    from genomamba.genome.registry import resolve_genome

    _, gff = resolve_genome(spec)
    if gff is None:
        raise GenomambaError(f"genome {spec!r} has no bundled annotation; give a GFF3/GTF path")
    return gff


def gene_spans(annotation: str, genome) -> list[tuple[str, Region, list]]:
    """(gene id, span over its transcripts, transcripts) of every annotated gene on a FASTA sequence, in order."""
    from genomamba.finetune.gff import read_transcripts

    genes: dict[str, list] = {}
    for t in read_transcripts(_annotation_path(annotation)):
        genes.setdefault(t.gene, []).append(t)
    out = []
    for gene, ts in genes.items():
        try:
            contig = genome.resolve(ts[0].chrom)
        except GenomambaError:
            continue
        span = Region(contig, min(t.start for t in ts), max(t.end for t in ts), gene.removeprefix("gene-"))
        out.append((span.name, span, ts))
    order = {name: i for i, name in enumerate(genome.contigs)}
    return sorted(out, key=lambda g: (order[g[1].contig], g[1].start))


def gene_regions(annotation: str, genome, genes: str, flank: int) -> list[Region]:
    """Regions around annotated genes: ``genes`` is a count (the first N in genome order) or comma-separated ids
    (``gene-`` prefixes optional), each widened by ``flank`` bases on both sides (clipped to the sequence)."""
    spans = gene_spans(annotation, genome)
    if genes.isdigit():
        chosen = spans[: int(genes)]
    else:
        wanted = [g.strip().removeprefix("gene-") for g in genes.split(",") if g.strip()]
        by_name = {name: (name, span, ts) for name, span, ts in spans}
        missing = [g for g in wanted if g not in by_name]
        if missing:
            raise GenomambaError(f"gene(s) {', '.join(missing)} not in the annotation (e.g. {spans[0][0]})", annotation)
        chosen = [by_name[g] for g in wanted]
    if not chosen:
        raise GenomambaError("no annotated genes on the FASTA's sequences", annotation)
    out = []
    for name, span, _ in chosen:
        length = genome.contigs[span.contig]
        out.append(Region(span.contig, max(0, span.start - flank), min(length, span.end + flank), name))
    return merge_regions(out, genome)
