"""Embedding-distance variant scores (``score-vcf --score embedding-distance``), BEND's zero-shot protocol.

For an SNV at position p, the score is 1 - cos(h_ref[p], h_alt[p]): the cosine distance between the model's hidden
states at the variant position (``hidden_states``, the representation heads read) computed on the reference window
and on the same window carrying the ALT base. Windows are the LLR's (``alleles.Tiling``: the variant's tile plus
its flanks), so one reference pass per tile serves every variant in it and each ALT takes one pass. Larger =
more disruptive (evaluate with ``--higher-is-positive``). Strands as for the LLR: with "both" the reverse-complement
windows give a second distance at the mirrored position and the mean is reported; RC-equivariant models give the
same value on both strands (a cosine does not see the channel reversal), so "auto" scores one.

Indels, MNVs and other non-SNV alleles are flagged ``SNV_ONLY_SCORE`` and left unscored.
"""

from __future__ import annotations

import numpy as np

from genomamba.alphabet import reverse_complement
from genomamba.vep.config import ScoreVcfConfig
from genomamba.vep.plan import Planner, SnvJob, set_scores
from genomamba.vep.refcheck import Variant
from genomamba.vep.scorers import ModelScorer
from genomamba.vep.writers import AlleleResult


class EmbeddingScorer(ModelScorer):
    """A pretrained LM as a source of per-position hidden states (one strand, the final-norm output)."""

    def features_at(self, windows: list[np.ndarray], offsets: list[np.ndarray]) -> list[np.ndarray]:
        """uint8 windows (L_i,) and offsets (k_i,) into them -> float32 hidden states (k_i, C) at those offsets."""
        import torch

        from genomamba.infer.features import token_features

        def take(h, row, i):
            return h[row, torch.as_tensor(offsets[i], dtype=torch.long)].float().cpu().numpy()

        return self.batched(windows, lambda ids: token_features(self.model, ids), take)

    def describe(self) -> dict[str, str]:
        from genomamba.vep.scorers import _checkpoint_provenance

        c = self.model.config
        prov = _checkpoint_provenance(self.checkpoint) if self.checkpoint is not None else {}
        what = "embedding distance: 1 - cosine of the hidden states at the variant, ALT window vs REF window"
        return {**prov, "model": f"fusion={c.fusion} rc={c.rc} d_model={c.d_model} n_layer={c.n_layer}; {what}"}


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise 1 - cos(a_i, b_i) of (k, C) arrays (float64)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return 1.0 - (a * b).sum(axis=1) / np.maximum(norms, 1e-30)


class EmbeddingDistanceScorer:
    """The engine of ``--score embedding-distance`` (same interface as ``engine.VariantEffectScorer``)."""

    score_kind = "embedding_distance"

    def __init__(self, scorer: EmbeddingScorer, genome, config: ScoreVcfConfig, source: str | None = None):
        self.scorer = scorer
        self.genome = genome
        self.cfg = config
        self.fusion = scorer.fusion
        self.planner = Planner(genome, config, scorer.fusion, source, snv_only=True)
        self.counts = self.planner.counts
        self.strands = config.strands
        if self.strands == "auto":
            self.strands = "forward" if scorer.rc_equivariant else "both"

    @property
    def unknown_contigs(self) -> set[str]:
        return self.planner.checker.unknown_contigs

    def tiling(self, contig: str):
        return self.planner.tiling(contig)

    def score(self, variants: list[Variant]) -> list[list[AlleleResult]]:
        plan = self.planner.plan(variants)
        n = 1 if self.strands == "forward" else 2
        per_batch = max(1, self.cfg.effective_batch_size // n)
        jobs = sorted(plan.snvs, key=lambda j: (j.contig, j.pos))
        for b in range(0, len(jobs), per_batch):
            self._score_group(jobs[b : b + per_batch])
        self.planner.tally(plan.results)
        return plan.results

    def _score_group(self, jobs: list[SnvJob]) -> None:
        """One scorer call: each tile's reference window once (all its variants' offsets), each ALT window once."""
        tiles: dict[tuple[str, int], list[SnvJob]] = {}
        for job in jobs:
            tiles.setdefault((job.contig, self.tiling(job.contig).tile_of(job.pos)), []).append(job)
        windows, offsets, slots = [], [], []
        for (contig, tile), members in tiles.items():
            ws, we = self.tiling(contig).window(tile)
            ref = self.genome.fetch_tokens(contig, ws, we)[0]
            at = np.array([j.pos - ws for j in members])
            self._add(windows, offsets, ref, at)
            slots.append(("ref", members))
            for job, i in zip(members, at):
                alt = ref.copy()
                alt[i] = job.alt
                self._add(windows, offsets, alt, np.array([i]))
                slots.append(("alt", [job]))
        feats = iter(self.scorer.features_at(windows, offsets))
        n = 1 if self.strands == "forward" else 2
        ref_vectors: dict[int, list[np.ndarray]] = {}
        for kind, members in slots:
            per_strand = [next(feats) for _ in range(n)]  # (k, C) each
            if kind == "ref":
                for k, job in enumerate(members):
                    ref_vectors[id(job)] = [f[k : k + 1] for f in per_strand]
            else:
                (job,) = members
                dist = [float(cosine_distance(r, a)[0]) for r, a in zip(ref_vectors[id(job)], per_strand)]
                set_scores(job.result, dist)
        self.counts["embedding_passes"] += len(windows)

    def _add(self, windows: list, offsets: list, window: np.ndarray, at: np.ndarray) -> None:
        windows.append(window)
        offsets.append(at)
        if self.strands == "both":  # the reverse complement: offset i of the window is W-1-i there
            windows.append(np.ascontiguousarray(reverse_complement(window)))
            offsets.append(window.size - 1 - at)
