"""GFF3/GTF transcripts with their exons: the annotation the task builders of ``genomamba make-task`` read.

Coordinates become 0-based half-open at the reader. The format is decided by the attribute syntax of the first
feature (``key=value`` GFF3, ``key "value"`` GTF); gzip is detected by its magic bytes.
"""

from __future__ import annotations

import gzip
import urllib.parse
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
