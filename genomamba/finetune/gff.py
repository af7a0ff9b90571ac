"""GFF3/GTF transcripts with their exons: the annotation the task builders of ``genomamba make-task`` read.

Coordinates become 0-based half-open at the reader. The format is decided by the attribute syntax of the first
feature (``key=value`` GFF3, ``key "value"`` GTF); gzip is detected by its magic bytes.
"""

from __future__ import annotations

import gzip
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from genomamba.errors import GenomambaError

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
    cds: list[tuple[int, int]] = field(default_factory=list)  # coding parts, sorted, 0-based half-open (may be [])

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


_STRANDS = ("+", "-")  # unstranded transcripts have no defined TSS or splice orientation


@dataclass
class _Feature:
    chrom: str
    type: str
    start: int  # 0-based half-open
    end: int
    strand: str
    attributes: str


def _features(path: Path) -> Iterator[_Feature]:
    """The feature lines of a GFF3/GTF file (up to a ``##FASTA`` section), checked and converted to 0-based."""
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
        yield _Feature(chrom, ftype, start, end, strand, attr_text)


@dataclass
class _Annotation:
    """Transcripts by id and exons by transcript id, as the features come in."""

    wanted: set[str]
    transcripts: dict[str, Transcript] = field(default_factory=dict)
    exons: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    cds: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    exon_meta: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # GTF: chrom, strand, gene

    def add_gtf(self, f: _Feature, attrs: dict[str, str]) -> None:
        tid = attrs.get("transcript_id")
        if tid is None:
            return
        if f.type == "exon":
            self.exons.setdefault(tid, []).append((f.start, f.end))
            self.exon_meta[tid] = (f.chrom, f.strand, attrs.get("gene_id", tid))
        elif f.type == "CDS":
            self.cds.setdefault(tid, []).append((f.start, f.end))
        elif f.type in self.wanted and f.strand in _STRANDS:
            self.transcripts[tid] = Transcript(tid, attrs.get("gene_id", tid), f.chrom, f.start, f.end, f.strand)

    def add_gff3(self, f: _Feature, attrs: dict[str, str]) -> None:
        if f.type in self.wanted and f.strand in _STRANDS:
            tid = attrs.get("ID") or f"{f.chrom}:{f.start}-{f.end}{f.strand}"
            self.transcripts[tid] = Transcript(tid, attrs.get("Parent", tid), f.chrom, f.start, f.end, f.strand)
        elif f.type in ("exon", "CDS"):
            parts = self.exons if f.type == "exon" else self.cds
            for parent in attrs.get("Parent", "").split(","):
                if parent:
                    parts.setdefault(parent, []).append((f.start, f.end))

    def gtf_spans_from_exons(self) -> None:
        """GTF without ``transcript`` lines: a transcript spans its exons."""
        for tid, ex in self.exons.items():
            chrom, strand, gene = self.exon_meta[tid]
            if tid not in self.transcripts and strand in _STRANDS:
                lo, hi = min(s for s, _ in ex), max(e for _, e in ex)
                self.transcripts[tid] = Transcript(tid, gene, chrom, lo, hi, strand)


def read_transcripts(
    path: str | Path, transcript_types: tuple[str, ...] = DEFAULT_TRANSCRIPT_TYPES
) -> list[Transcript]:
    """Transcripts (with exons) from GFF3 or GTF (gzip allowed); format decided by the attribute syntax.

    GFF3: features whose type is in ``transcript_types`` (ID, Parent = gene), exons and CDS parts by Parent.
    GTF: ``transcript`` lines when present, else spans derived from the exons of each transcript_id.
    """
    path = Path(path)
    if not path.is_file():
        raise GenomambaError("annotation file not found", path)
    found = _Annotation(set(transcript_types))
    gtf: bool | None = None
    for feature in _features(path):
        if gtf is None:
            gtf = "=" not in feature.attributes.split(";")[0]
        attrs = _attributes(feature.attributes, gtf)
        (found.add_gtf if gtf else found.add_gff3)(feature, attrs)
    if gtf:
        found.gtf_spans_from_exons()
    for tid, t in found.transcripts.items():
        t.exons = sorted(found.exons.get(tid, []))
        t.cds = sorted(found.cds.get(tid, []))
    if not found.transcripts:
        raise GenomambaError(f"no transcripts of type {', '.join(transcript_types)} found", path)
    return list(found.transcripts.values())
