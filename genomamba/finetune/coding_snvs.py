"""Coding-consequence SNVs from an annotation: every possible SNV in the coding sequence of each protein-coding gene,
labelled synonymous / missense / stop_gained / start_lost / stop_lost by translating the codon it changes, then
sampled per class into a VCF that ``score-vcf`` and ``evaluate-vep`` read.

This is the simulated-variant check GPN popularised (no population data: every SNV is possible, the annotation gives
the label), for any genome with a GFF: a zero-shot scorer should rank stop_gained and start/stop changes below
synonymous ones. One transcript per gene: the longest CDS whose length is a multiple of 3, that starts with ATG and
has no stop codon before its last codon. A (position, allele) that two genes label differently is dropped.
Coordinates are 0-based half-open inside; the VCF's POS is 1-based.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path

import numpy as np

from genomamba.alphabet import encode
from genomamba.atomic import atomic_file, check_output_path
from genomamba.errors import GenomambaError
from genomamba.finetune.gff import Transcript
from genomamba.finetune.task_config import CODING_CLASSES, CodingSnvTaskConfig

log = logging.getLogger(__name__)

# the standard genetic code, codons in TCAG order (TTT, TTC, TTA, TTG, TCT, ...)
_BASES = "TCAG"
_AMINO = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
CODON = {a + b + c: _AMINO[16 * i + 4 * j + k] for i, a in enumerate(_BASES) for j, b in enumerate(_BASES)
         for k, c in enumerate(_BASES)}  # fmt: skip
_COMP = str.maketrans("ACGT", "TGCA")
CLASSES = CODING_CLASSES
DAMAGING = {"stop_gained", "start_lost", "stop_lost"}  # LABEL 1, as in the project's dev SNV sets
VCF_SUFFIXES = (".vcf", ".vcf.gz")
_INFO_UNSAFE = re.compile(r"[;=,\s]")  # characters an INFO value may not hold


def vcf_output(path: str | Path) -> bool:
    """True for a ``.vcf.gz`` (BGZF) output, False for ``.vcf``; any other extension, a directory or an unwritable
    folder is a ``GenomambaError`` (``atomic.check_output_path``)."""
    return check_output_path(path, VCF_SUFFIXES).name.lower().endswith(".gz")


def coding_sequence(genome, t: Transcript) -> tuple[str, np.ndarray] | None:
    """The transcript's CDS read 5'->3' (upper case) and the genomic position of each of its bases, or None when it
    is not a clean open reading frame (length not a multiple of 3, no ATG start, an internal stop, or N)."""
    if not t.cds:
        return None
    chrom = genome.resolve(t.chrom)
    seq = "".join(genome.fetch(chrom, s, e) for s, e in t.cds).upper()
    pos = np.concatenate([np.arange(s, e) for s, e in t.cds])
    if t.strand == "-":
        seq, pos = seq.translate(_COMP)[::-1], pos[::-1]
    if len(seq) % 3 or len(seq) < 6 or not seq.startswith("ATG") or set(seq) - set("ACGT"):
        return None
    if any(CODON[seq[i : i + 3]] == "*" for i in range(0, len(seq) - 3, 3)):
        return None
    return seq, pos


def consequence(codon: str, alt_codon: str, first: bool, last: bool) -> str:
    """The class of changing ``codon`` to ``alt_codon`` (both 5'->3'). A stop codon changed into another stop
    (VEP's stop_retained) counts as synonymous, as in the project's dev SNV sets."""
    old, new = CODON[codon], CODON[alt_codon]
    if first:
        return "start_lost"
    if last and old == "*":
        return "stop_lost" if new != "*" else "synonymous"
    if new == "*":
        return "stop_gained"
    return "synonymous" if new == old else "missense"


# the same code by token ids (genomamba.alphabet: A0 C1 G2 T3): codon a,b,c -> 16a + 4b + c; complement of x: 3 - x
_AMINO_ACGT = np.array([CODON[a + b + c] for a in "ACGT" for b in "ACGT" for c in "ACGT"])
_AMINO_ID = np.unique(_AMINO_ACGT, return_inverse=True)[1]
_IS_STOP = _AMINO_ACGT == "*"
_CLASS_ID = {c: i for i, c in enumerate(CLASSES)}
_SYN, _MIS, _GAINED, _START, _STOP_LOST = (_CLASS_ID[c] for c in CLASSES)


def label_gene(seq: str, pos: np.ndarray, strand: str) -> dict[str, np.ndarray]:
    """Every SNV of one clean coding sequence (``coding_sequence``), vectorised: genomic position, forward-strand
    REF and ALT codes (ACGT = 0..3) and class index into ``CLASSES``; ``consequence`` is the per-SNV reference."""
    code = encode(seq).astype(np.int64)  # (3n,) token ids 0..3: the sequence is ACGT only
    n = len(code) // 3
    codon_of = np.arange(len(code)) // 3
    old = (code.reshape(n, 3) @ np.array([16, 4, 1]))[codon_of]  # each base's codon index, (3n,)
    weight = np.array([16, 4, 1])[np.arange(len(code)) % 3]
    alts = [(code + d) % 4 for d in (1, 2, 3)]  # the three other bases
    new = np.concatenate([old + (alt - code) * weight for alt in alts])
    old3, codon3 = np.tile(old, 3), np.tile(codon_of, 3)
    cls = np.where(_AMINO_ID[new] == _AMINO_ID[old3], _SYN, _MIS)
    cls[_IS_STOP[new]] = _GAINED
    last = (codon3 == n - 1) & _IS_STOP[old3]
    cls[last] = np.where(_IS_STOP[new[last]], _SYN, _STOP_LOST)
    cls[codon3 == 0] = _START
    ref, alt = np.tile(code, 3), np.concatenate(alts)
    if strand == "-":
        ref, alt = 3 - ref, 3 - alt
    return {"pos": np.tile(pos, 3), "ref": ref.astype(np.uint8), "alt": alt.astype(np.uint8),
            "cls": cls.astype(np.int8)}  # fmt: skip


def longest_cds_per_gene(genome, transcripts: list[Transcript]) -> dict[str, tuple[Transcript, str, np.ndarray]]:
    """Per gene, its transcript with the longest clean open reading frame (ties: the first in file order)."""
    best: dict[str, tuple[Transcript, str, np.ndarray]] = {}
    for t in transcripts:
        found = coding_sequence(genome, t)
        if found is not None and (t.gene not in best or len(found[0]) > len(best[t.gene][1])):
            best[t.gene] = (t, *found)
    return best


def build_coding_snvs(genome, transcripts: list[Transcript], cfg: CodingSnvTaskConfig) -> list[tuple]:
    """Sampled (chrom, pos0, ref, alt, class, gene) records, at most ``cfg.per_class`` per class, position-sorted.

    Every SNV of every gene is labelled in arrays (a 30-Mb plant chromosome has ~20M); an SNV that two overlapping
    genes label differently is dropped, one labelled the same twice is kept once."""
    genes = longest_cds_per_gene(genome, transcripts)
    if not genes:
        raise GenomambaError("no protein-coding transcript with a clean CDS (CDS features, ATG start, length % 3 == 0)")
    names = sorted(genes)
    chroms = sorted({genome.resolve(genes[g][0].chrom) for g in names})
    parts = []
    for gi, gene in enumerate(names):
        t, seq, pos = genes[gene]
        lab = label_gene(seq, pos, t.strand)
        lab["chrom"] = np.full(len(lab["pos"]), chroms.index(genome.resolve(t.chrom)), dtype=np.int32)
        lab["gene"] = np.full(len(lab["pos"]), gi, dtype=np.int32)
        parts.append(lab)
    snv = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((snv["gene"], snv["alt"], snv["pos"], snv["chrom"]))  # by chrom, pos, alt, then gene
    snv = {k: v[order] for k, v in snv.items()}
    first = np.ones(len(order), dtype=bool)  # the first row of each (chrom, pos, alt)
    first[1:] = (np.diff(snv["chrom"]) != 0) | (np.diff(snv["pos"]) != 0) | (np.diff(snv["alt"].astype(np.int8)) != 0)
    starts, group = np.flatnonzero(first), np.cumsum(first) - 1
    agree = np.ones(len(starts), dtype=bool)
    np.logical_and.at(agree, group, snv["cls"] == snv["cls"][starts][group])
    keep = starts[agree]
    rng = np.random.default_rng(cfg.seed)
    picked = []
    for name in cfg.classes:
        rows = keep[snv["cls"][keep] == _CLASS_ID[name]]
        picked.append(np.sort(rng.choice(rows, size=min(cfg.per_class, len(rows)), replace=False)))
    chosen = np.sort(np.concatenate(picked))  # rows are sorted by chrom, pos, alt already
    out = [
        (chroms[snv["chrom"][i]], int(snv["pos"][i]), "ACGT"[snv["ref"][i]], "ACGT"[snv["alt"][i]],
         CLASSES[snv["cls"][i]], names[snv["gene"][i]])
        for i in chosen
    ]  # fmt: skip
    log.info("coding SNVs: %d genes, %d labelled SNVs (%d dropped: two genes disagree), sampled %s", len(genes),
             int(agree.sum()), int((~agree).sum()), dict(Counter(r[4] for r in out)))  # fmt: skip
    return out


def write_vcf(records: list[tuple], contigs: dict[str, int], out: str | Path, source: str) -> None:
    """VCF 4.2 with INFO CSQ, GENE and LABEL (1 = stop_gained, start_lost, stop_lost), written atomically; BGZF for
    ``.vcf.gz``."""
    from genomamba.genome.bgzf import BgzfWriter

    lines = ["##fileformat=VCFv4.2", f"##source={source}"]
    lines += [f"##contig=<ID={c},length={n}>" for c, n in contigs.items()]
    lines += [
        '##INFO=<ID=CSQ,Number=1,Type=String,Description="coding consequence (synonymous, missense, stop_gained, '
        'start_lost, stop_lost) from the longest clean CDS of the gene">',
        '##INFO=<ID=GENE,Number=1,Type=String,Description="gene (annotation Parent of the transcript)">',
        '##INFO=<ID=LABEL,Number=1,Type=Integer,Description="1 = stop_gained, start_lost or stop_lost; 0 = other">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    for c, p, ref, alt, csq, gene in records:
        info = f"CSQ={csq};GENE={_INFO_UNSAFE.sub('_', gene)};LABEL={int(csq in DAMAGING)}"
        lines.append(f"{c}\t{p + 1}\t.\t{ref}\t{alt}\t.\t.\t{info}")
    data = ("\n".join(lines) + "\n").encode()
    with atomic_file(Path(out)) as tmp, open(tmp, "wb") as fh:
        if vcf_output(out):
            with BgzfWriter(fh) as w:
                w.write(data)
        else:
            fh.write(data)
