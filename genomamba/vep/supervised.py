"""Supervised variant scores: the change of a fine-tuned sequence head's prediction between ALT and REF.

Each allele (SNV, MNV or indel) gets one window of ``context`` bases centred on the change (shifted inside the
contig); the ALT window carries the allele. Score = pred(alt) - pred(ref) (``SupervisedScorer.predict``). Strand
handling is the head's own (``strands: both`` averages the features of both strands), so one strand is scored.
"""

from __future__ import annotations

import numpy as np

from genomamba.alphabet import NUCLEOTIDES, encode
from genomamba.vep.config import ScoreVcfConfig
from genomamba.vep.plan import Planner, set_scores
from genomamba.vep.refcheck import Variant
from genomamba.vep.scorers import SupervisedScorer
from genomamba.vep.writers import AlleleResult

# one change to score: (result, contig, start of ref_core, span lo, span hi, ref_core, alt_core)
_Change = tuple[AlleleResult, str, int, int, int, str, str]


class SupervisedEffectScorer:
    score_kind = "delta"

    def __init__(self, scorer: SupervisedScorer, genome, config: ScoreVcfConfig, source: str | None = None):
        self.scorer = scorer
        self.genome = genome
        self.cfg = config
        self.planner = Planner(genome, config, "head", source)  # indels are scored like SNVs: no fusion limit
        self.counts = self.planner.counts
        self.strands = "forward"

    @property
    def unknown_contigs(self) -> set[str]:
        return self.planner.checker.unknown_contigs

    def score(self, variants: list[Variant]) -> list[list[AlleleResult]]:
        plan = self.planner.plan(variants)
        changes: list[_Change] = [
            (j.result, j.contig, j.pos, j.pos, j.pos + 1, NUCLEOTIDES[j.ref], NUCLEOTIDES[j.alt]) for j in plan.snvs
        ]
        changes += [(j.result, j.contig, j.start, j.lo, j.hi, j.ref_core, j.alt_core) for j in plan.haps]
        per_batch = max(1, self.cfg.effective_batch_size // 2)  # a REF and an ALT window per change
        for b in range(0, len(changes), per_batch):
            group = changes[b : b + per_batch]
            windows = []
            for change in group:
                windows += self._windows(*change[1:])
            preds = self.scorer.predict(windows)
            self.counts["supervised_passes"] += len(group)
            for k, change in enumerate(group):
                set_scores(change[0], [float(preds[2 * k + 1] - preds[2 * k])])
        self.planner.tally(plan.results)
        return plan.results

    def _windows(self, contig: str, start: int, lo: int, hi: int, ref_core: str, alt_core: str) -> list[np.ndarray]:
        """[REF window, ALT window]: ``context`` bases centred on [lo, hi), shifted inside the contig."""
        length = self.genome.contigs[contig]
        w = min(self.cfg.context, length)
        ws = min(max((lo + hi) // 2 - w // 2, 0), length - w)
        ref_w = self.genome.fetch_tokens(contig, ws, ws + w)[0]
        s = start - ws
        return [ref_w, np.concatenate([ref_w[:s], encode(alt_core), ref_w[s + len(ref_core) :]])]
