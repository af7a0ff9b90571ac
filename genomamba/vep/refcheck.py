"""Record-level checks against the reference: contig resolution, position range and REF agreement.

One ``RefChecker`` serves both the fast precheck the driver runs before loading a model (``ref_check: error``)
and the engine's planning, so the two can never judge a record differently.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from genomamba.errors import GenomambaError
from genomamba.vep.alleles import FLAG_OUT_OF_RANGE, FLAG_REF_MISMATCH, FLAG_UNKNOWN_CONTIG
from genomamba.vep.config import RefCheck

log = logging.getLogger(__name__)

_MAX_WARNINGS = 10  # mismatch log lines with ref_check "warn"; later ones are only counted


@dataclass
class Variant:
    """One VCF record as the scorer needs it (1-based ``pos`` as in the file)."""

    chrom: str
    pos: int
    ref: str
    alts: tuple[str, ...]
    where: str = ""  # "line N" for error messages


class RefChecker:
    """Flags records whose contig is unknown, whose position lies outside the contig, or whose REF disagrees
    with the FASTA; ``policy`` decides what a REF mismatch does (error / warn / skip).

    ``counts`` (records_unknown_contig, records_out_of_range, records_ref_mismatch) may be shared with the caller.
    """

    def __init__(self, genome, policy: RefCheck, source: str | None = None, counts: Counter | None = None):
        self.genome = genome
        self.policy = policy
        self.source = source
        self.counts = Counter() if counts is None else counts
        self.unknown_contigs: set[str] = set()
        self._contigs: dict[str, str | None] = {}
        self._warned = 0

    def resolve(self, chrom: str) -> str | None:
        """FASTA name of VCF contig ``chrom`` (aliases such as chr1 -> 1 included), None if the FASTA lacks it."""
        if chrom not in self._contigs:
            try:
                self._contigs[chrom] = self.genome.resolve(chrom)
            except GenomambaError as exc:
                if "ambiguous" in exc.problem:
                    raise
                self._contigs[chrom] = None
                self.unknown_contigs.add(chrom)
        return self._contigs[chrom]

    def check(self, v: Variant) -> list[str]:
        """Record-level flags of ``v`` (empty when the record can be scored)."""
        contig = self.resolve(v.chrom)
        if contig is None:
            self.counts["records_unknown_contig"] += 1
            return [FLAG_UNKNOWN_CONTIG]
        start, ref = v.pos - 1, v.ref.upper()
        if start < 0 or start + max(1, len(ref)) > self.genome.contigs[contig]:
            self.counts["records_out_of_range"] += 1
            return [FLAG_OUT_OF_RANGE]
        actual = self.genome.fetch(contig, start, start + len(ref)).upper() if ref not in ("", ".") else ""
        if actual == ref:
            return []
        self.counts["records_ref_mismatch"] += 1
        problem = f"REF {v.ref} does not match the reference ({actual or '?'}) at {v.chrom}:{v.pos}"
        if self.policy == "error":
            hint = " (wrong reference build? --ref-check warn|skip flags such records instead)"
            raise GenomambaError(problem + hint, self.source, v.where or None)
        if self.policy == "warn":
            if self._warned < _MAX_WARNINGS:
                last = self._warned == _MAX_WARNINGS - 1
                log.warning("%s: %s%s", v.where, problem, "; further mismatches are counted only" if last else "")
            self._warned += 1
        return [FLAG_REF_MISMATCH]
