"""Planning of variant scoring: each ALT allele of a chunk of records becomes a flagged result plus, when it can
be scored, a job (an SNV at one position, or a haplotype over the indel's equivalent span).

Planning reads only the reference (record checks, the repeat an indel can slide in); it runs no model. The engines
(``engine`` for zero-shot log-probabilities, ``supervised`` for fine-tuned heads) turn the jobs into scores.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from genomamba.alphabet import encode
from genomamba.vep.alleles import (
    FLAG_HAPLOTYPE,
    FLAG_INDEL_TOO_LONG,
    FLAG_NEAR_END,
    FLAG_NEEDS_FUSION_HEAD,
    FLAG_NON_FINITE,
    FLAG_SNV_ONLY,
    UNSCORED_FLAGS,
    Tiling,
    allele_kind,
    equivalent_span,
    make_tiling,
    trim_alleles,
)
from genomamba.vep.config import ScoreVcfConfig
from genomamba.vep.refcheck import RefChecker, Variant
from genomamba.vep.writers import AlleleResult

_SPAN_READ_PAD = 64  # extra reference read around an indel when looking for the repeat it can slide in


@dataclass
class SnvJob:
    result: AlleleResult
    contig: str
    pos: int  # 0-based
    ref: int  # token id (A, C, G, T = 0-3)
    alt: int


@dataclass
class HapJob:
    result: AlleleResult
    contig: str
    lo: int  # equivalent span [lo, hi) in ref coordinates
    hi: int
    start: int  # change: ref_core at [start, start + len(ref_core)) -> alt_core
    ref_core: str
    alt_core: str
    ref_terms: list[float] = field(default_factory=list)  # per strand: mean per-base PLL on the reference


@dataclass
class Plan:
    results: list[list[AlleleResult]]  # per record, per ALT
    snvs: list[SnvJob]
    haps: list[HapJob]


class Planner:
    """Checks records, classifies alleles and lays out jobs; ``counts`` is the run's tally (records, alleles,
    scored, flag:<FLAG>, plus the RefChecker's record counts)."""

    def __init__(self, genome, config: ScoreVcfConfig, fusion: str, source: str | None = None, snv_only: bool = False):
        self.genome = genome
        self.cfg = config
        self.fusion = fusion  # haplotype scores need fusion "head" (the prediction at q never sees x[q])
        self.snv_only = snv_only  # scores defined for SNVs only: other alleles are flagged, not planned
        self.counts: Counter = Counter()
        self.checker = RefChecker(genome, config.ref_check, source, self.counts)
        self.tilings: dict[str, Tiling] = {}

    def tiling(self, contig: str) -> Tiling:
        if contig not in self.tilings:
            self.tilings[contig] = make_tiling(self.genome.contigs[contig], self.cfg.context)
        return self.tilings[contig]

    def plan(self, variants: list[Variant]) -> Plan:
        plan = Plan([], [], [])
        for v in variants:
            self.counts["records"] += 1
            record_flags = self.checker.check(v)
            contig = self.checker.resolve(v.chrom)
            plan.results.append([self._plan_allele(v, alt, contig, record_flags, plan) for alt in v.alts])
        return plan

    def _plan_allele(self, v: Variant, alt: str, contig: str | None, record_flags: list[str], plan: Plan):
        self.counts["alleles"] += 1
        kind, flag = allele_kind(v.ref, alt)
        res = AlleleResult(alt=alt if alt is not None else ".", kind=kind, flags=list(record_flags))
        if flag is not None:
            res.flags.append(flag)
        if any(f in UNSCORED_FLAGS for f in res.flags):
            return res
        start, ref_core, alt_core = trim_alleles(v.pos - 1, v.ref.upper(), alt.upper())
        tiling = self.tiling(contig)
        if kind == "snv":
            if tiling.near_end(start, start + 1):
                res.flags.append(FLAG_NEAR_END)
            ref, alt = encode(ref_core + alt_core)  # one base each: their token ids
            plan.snvs.append(SnvJob(res, contig, start, int(ref), int(alt)))
        elif self.snv_only:
            res.flags.append(FLAG_SNV_ONLY)
        elif self.fusion != "head":
            res.flags.append(FLAG_NEEDS_FUSION_HEAD)
        else:
            job = self._haplotype(res, contig, tiling, start, ref_core, alt_core)
            if job is not None:
                plan.haps.append(job)
        return res

    def _haplotype(self, res, contig: str, tiling: Tiling, start: int, ref_core: str, alt_core: str):
        """HapJob over the span the change can slide in, or None (flagged) when its region exceeds the flank."""
        hf = self.cfg.haplotype_flank
        longest = max(len(ref_core), len(alt_core))
        if longest > self.cfg.max_indel_length or 2 * hf + longest > tiling.flank:
            res.flags.append(FLAG_INDEL_TOO_LONG)
            return None
        pad = self.cfg.max_indel_length + 2 * hf + _SPAN_READ_PAD
        r0 = max(0, start - pad)
        r1 = min(tiling.length, start + len(ref_core) + pad)
        local = self.genome.fetch_tokens(contig, r0, r1)[0]
        lo, hi = equivalent_span(local, r0, start, ref_core, alt_core)
        if hi - lo + 2 * hf > tiling.flank:
            res.flags.append(FLAG_INDEL_TOO_LONG)
            return None
        if tiling.near_end(lo, hi):
            res.flags.append(FLAG_NEAR_END)
        res.flags.append(FLAG_HAPLOTYPE)
        return HapJob(res, contig, lo, hi, start, ref_core, alt_core)

    def tally(self, results: list[list[AlleleResult]]) -> None:
        for alleles in results:
            for a in alleles:
                self.counts["scored"] += a.llr is not None
                for f in a.flags:
                    self.counts[f"flag:{f}"] += 1


def set_scores(result: AlleleResult, per_strand: list[float]) -> None:
    """Store per-strand scores and their mean; a NaN/inf (e.g. a diverged checkpoint) is flagged, never written."""
    if not all(np.isfinite(per_strand)):
        result.flags.append(FLAG_NON_FINITE)
        return
    result.llr_fwd = per_strand[0]
    result.llr_rev = per_strand[1] if len(per_strand) > 1 else None
    result.llr = float(np.mean(per_strand))
