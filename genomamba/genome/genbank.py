"""GenBank and EMBL flat files (gzip allowed) as genome input, read with Biopython.

``write_fasta`` streams the records' sequences as FASTA (``Genome`` reads a flat file through such a copy in the
cache, see ``genome.inputs``); ``genbank_to_gff`` exports the gene, mRNA and CDS features as GFF3, with one exon per
part of each mRNA's location, so ``genomamba.finetune.gff.read_transcripts`` (and make-task) can use them.

Sequence names are the records' ``id`` (ACCESSION.VERSION, else the LOCUS/ID name). The letters are uppercased:
flat files are written in lower case by convention, which is not a soft-mask.
"""

from __future__ import annotations

import gzip
import logging
import os
import urllib.parse
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

from genomamba.atomic import atomic_file
from genomamba.errors import GenomambaError
from genomamba.genome.bgzf import gzip_problem

log = logging.getLogger(__name__)

SUFFIXES = {".gb": "genbank", ".gbk": "genbank", ".genbank": "genbank", ".embl": "embl"}
FEATURES = ("gene", "mRNA", "CDS")
_LINE = 60  # bases per FASTA line


def flat_file_kind(path: str | os.PathLike) -> str | None:
    """``genbank`` or ``embl`` by the file name (``.gb``, ``.gbk``, ``.genbank``, ``.embl``, each optionally
    ``.gz``); None for any other name."""
    suffixes = [s.lower() for s in Path(path).suffixes[-2:]]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return SUFFIXES.get(suffixes[-1]) if suffixes else None


def records(path: Path, kind: str) -> Iterator:
    """Biopython ``SeqRecord``s of a GenBank/EMBL file; unreadable input is a ``GenomambaError`` naming it."""
    from Bio import SeqIO

    seen: set[str] = set()
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
    try:
        with gzip.open(path, "rt") if compressed else open(path) as fh:
            parser = SeqIO.parse(fh, kind)
            while (rec := _next_record(parser, path)) is not None:
                if not rec.id or rec.id in seen:
                    raise GenomambaError("duplicate or missing sequence name", path, rec.id or rec.name)
                seen.add(rec.id)
                yield rec
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise GenomambaError(gzip_problem(exc), path) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise GenomambaError(f"cannot parse {kind} ({exc})", path) from None


def _next_record(parser, path: Path):
    """The parser's next record (None at the end), with its parser warnings handled: a GenBank file cut short only
    warns in Biopython and yields a shorter sequence, which here is an error; other warnings are logged once."""
    from Bio.Seq import UndefinedSequenceError

    with warnings.catch_warnings(record=True) as caught:  # only while parsing, never while suspended at a yield
        warnings.simplefilter("always")
        rec = next(parser, None)
    messages = [str(w.message) for w in caught]
    name = None if rec is None else rec.id
    for message in messages:
        if message.startswith(("Premature end", "Expected sequence length")):
            raise GenomambaError(f"truncated: {message}", path, name)
    if messages:
        more = f" (and {len(messages) - 1} more parser warnings)" if len(messages) > 1 else ""
        log.warning("%s: %s%s", f"{path}:{name}" if name else path, messages[0], more)
    if rec is not None:
        try:
            bytes(rec.seq)
        except UndefinedSequenceError:
            raise GenomambaError("record has no sequence (a CONTIG/WGS master record?)", path, name) from None
    return rec


def write_fasta(path: Path, kind: str, out) -> None:
    """Write every record of ``path`` as FASTA (uppercase, ``_LINE`` bases per line) to binary writer ``out``."""
    n = 0
    for rec in records(path, kind):
        seq = bytes(rec.seq).upper()
        body = b"\n".join(seq[i : i + _LINE] for i in range(0, len(seq), _LINE))
        out.write(b">" + rec.id.encode() + b"\n" + body + b"\n")
        n += 1
    if n == 0:
        raise GenomambaError(f"no {kind} records", path)


# ------------------------------------------------------------------------------------------------------- GFF3
def _escape(value: str) -> str:
    """GFF3 column-9 escaping (``;``, ``=``, ``&``, ``,``, tabs, newlines and ``%``)."""
    return urllib.parse.quote(value, safe=" :/()[]'*.-_|+@#^!?~<>{}$\"")


def _strand(location) -> str:
    return {1: "+", -1: "-"}.get(location.strand, ".")


def _parts(location) -> list[tuple[int, int]]:
    """0-based half-open parts in transcription order (5' to 3')."""
    parts = sorted((int(p.start), int(p.end)) for p in location.parts)
    return parts[::-1] if location.strand == -1 else parts


def _key(feature, chrom: str) -> str:
    q = feature.qualifiers
    for name in ("locus_tag", "gene"):
        if q.get(name):
            return q[name][0]
    loc = feature.location
    return f"{chrom}:{int(loc.start)}-{int(loc.end)}{_strand(loc)}"


def _phases(feature) -> list[int]:
    """GFF phase of each CDS part: bases to skip before the next codon starts, from ``codon_start``."""
    first = int(feature.qualifiers.get("codon_start", ["1"])[0]) - 1
    phases, done = [], 0
    for start, end in _parts(feature.location):
        phases.append(first if not phases else (3 - (done - first) % 3) % 3)
        done += end - start
    return phases


def _gff_rows(rec) -> Iterator[tuple]:
    """(type, start, end, strand, phase, attributes) rows of one record's gene/mRNA/CDS features."""
    genes: dict[str, str] = {}
    transcripts: dict[str, list[tuple[str, int, int]]] = {}
    counts: dict[str, int] = {}

    def new_id(prefix: str, key: str) -> str:
        counts[prefix + key] = counts.get(prefix + key, 0) + 1
        n = counts[prefix + key]
        return f"{prefix}{key}" if n == 1 else f"{prefix}{key}.{n}"

    # genes first, then mRNAs, then CDSs, so every Parent is known when its child is written
    for ftype in FEATURES:
        for f in (f for f in rec.features if f.type == ftype):
            key, loc = _key(f, rec.id), f.location
            start, end, strand = int(loc.start), int(loc.end), _strand(loc)
            names = {"gene": f.qualifiers.get("gene", [None])[0], "locus_tag": f.qualifiers.get("locus_tag", [None])[0]}
            if ftype == "gene":
                fid = new_id("gene-", key)
                genes.setdefault(key, fid)
                yield "gene", start, end, strand, ".", {"ID": fid, "Name": names["gene"] or key, **names}
            elif ftype == "mRNA":
                fid = new_id("rna-", f.qualifiers.get("transcript_id", [key])[0])
                transcripts.setdefault(key, []).append((fid, start, end))
                yield "mRNA", start, end, strand, ".", {"ID": fid, "Parent": genes.get(key), **names}
                for s, e in _parts(loc):
                    yield "exon", s, e, strand, ".", {"Parent": fid}
            else:
                inside = [t for t, s, e in transcripts.get(key, []) if s <= start and end <= e]
                parent = inside[0] if inside else genes.get(key)
                attrs = {"ID": new_id("cds-", f.qualifiers.get("protein_id", [key])[0]), "Parent": parent, **names}
                for (s, e), phase in zip(_parts(loc), _phases(f)):
                    yield "CDS", s, e, strand, str(phase), attrs


def genbank_to_gff(path: str | os.PathLike, out: str | os.PathLike, kind: str | None = None) -> int:
    """Write the gene/mRNA/CDS features of a GenBank/EMBL file as GFF3 ``out`` (atomically); return the number of
    feature lines. ``kind`` (``genbank``/``embl``) defaults to what the file name says."""
    path = Path(path)
    kind = kind or flat_file_kind(path)
    if kind not in ("genbank", "embl"):
        raise GenomambaError("not a GenBank/EMBL file name (.gb, .gbk, .genbank, .embl, optionally .gz)", path)
    lines = ["##gff-version 3"]
    for rec in records(path, kind):
        lines.append(f"##sequence-region {rec.id} 1 {len(rec.seq)}")
        for ftype, start, end, strand, phase, attrs in _gff_rows(rec):
            column9 = ";".join(f"{k}={_escape(str(v))}" for k, v in attrs.items() if v is not None)
            lines.append("\t".join([rec.id, kind, ftype, str(start + 1), str(end), ".", strand, phase, column9]))
    with atomic_file(out) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    n = sum(not line.startswith("#") for line in lines)
    log.info("%s: %d GFF3 feature lines from %s", out, n, path)
    return n
