"""Saturation mutagenesis (ISM) of a region: every position, every alternative base, scored exactly as
``score-vcf`` scores that SNV (same windows, strands and read-out), so an ISM row and a VCF score agree.

* Zero-shot, fusion "head": one forward pass over a tile's window gives log P(b) for all four bases at every
  position of the tile, hence LLR(p, b) = log P(b) - log P(ref) for all 3 x tile variants at once (one pass per
  tile and strand, where scoring them as separate variants takes 3 x tile passes; ``per_variant`` does that, for
  comparison). fusion "layer": one masked pass per position gives its three alternatives.
* Fine-tuned sequence head: delta = prediction(alt window) - prediction(ref window), the window centred on the
  position (as ``score-vcf``), mutants batched; reference windows are shared where they coincide.

Chunks carry per-strand scores (S, n, 4) with NaN at the reference base; positions whose reference is not A/C/G/T
get no scores, as ``score-vcf`` leaves such records unscored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from genomamba.alphabet import MASK
from genomamba.infer.regions import Region
from genomamba.infer.tracks import batched
from genomamba.vep.alleles import make_tiling
from genomamba.vep.engine import strand_logprobs, strand_windows


@dataclass
class IsmChunk:
    contig: str
    start: int  # 0-based position of row 0
    ref: np.ndarray  # (n,) reference tokens
    scores: np.ndarray  # (S, n, 4) per strand, NaN at the reference base and at non-ACGT references
    near_end: np.ndarray  # (n,) bool: fewer than the window's flank bases on one side (score-vcf's NEAR_END)

    @property
    def score(self) -> np.ndarray:
        """(n, 4) strand mean."""
        return self.scores.mean(axis=0)


def _llr(lp: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """lp (n, 4) log-probs, ref (n,) tokens -> (n, 4) LLR = lp[:, b] - lp[:, ref]; NaN at ref and non-ACGT rows."""
    ok = ref < 4
    out = lp - lp[np.arange(ref.size), np.where(ok, ref, 0)][:, None]
    out[~ok] = np.nan
    out[np.flatnonzero(ok), ref[ok]] = np.nan
    return out


def _strands(scorer, strands: str) -> str:
    if strands == "auto":
        return "forward" if scorer.rc_equivariant else "both"
    return strands


class ZeroShotIsm:
    """LLR of every SNV in a region from a log-probability ``Scorer`` (``vep.scorers``)."""

    def __init__(self, scorer, genome, cfg):
        self.scorer, self.genome, self.cfg = scorer, genome, cfg  # cfg: the ScoreVcfConfig of the same scores
        self.strands = _strands(scorer, cfg.strands)
        self.n = 1 if self.strands == "forward" else 2
        self.per_call = max(1, cfg.effective_batch_size // self.n)

    def run(self, region: Region) -> Iterator[IsmChunk]:
        tiling = make_tiling(self.genome.contigs[region.contig], self.cfg.context)
        positions = np.arange(region.start, region.end)
        tile_of = (positions - tiling.c0) // tiling.stride
        for t in np.unique(tile_of):  # tiles in ascending order: each holds a contiguous run of positions
            run = positions[tile_of == t]
            ws, we = tiling.window(int(t))
            tokens = self.genome.fetch_tokens(region.contig, ws, we)[0]
            lo, hi = int(run[0]) - ws, int(run[-1]) + 1 - ws
            if self.scorer.fusion == "layer":
                scores = self._masked(tokens, range(lo, hi))
            elif self.cfg.per_variant:
                scores = self._per_variant(tokens, range(lo, hi))
            else:
                lps = strand_logprobs(self.scorer.log_probs(strand_windows(tokens, self.strands)))
                scores = np.stack([_llr(lp[lo:hi], tokens[lo:hi]) for lp in lps])
            near = np.array([tiling.near_end(int(p), int(p) + 1) for p in run])
            yield IsmChunk(region.contig, int(run[0]), tokens[lo:hi].copy(), scores, near)

    def _masked(self, tokens: np.ndarray, offsets: range) -> np.ndarray:
        """fusion "layer": position i of the window masked, one pass per position (and strand)."""
        scores = np.empty((self.n, len(offsets), 4))
        for group in batched(offsets, self.per_call):
            windows = []
            for i in group:
                masked = tokens.copy()
                masked[i] = MASK
                windows += strand_windows(masked, self.strands)
            lps = self.scorer.log_probs(windows)
            for k, i in enumerate(group):
                for s, lp in enumerate(strand_logprobs(lps[k * self.n : (k + 1) * self.n])):
                    scores[s, i - offsets[0]] = _llr(lp[i : i + 1], tokens[i : i + 1])[0]
        return scores

    def _per_variant(self, tokens: np.ndarray, offsets: range) -> np.ndarray:
        """One pass over the (unchanged) window per variant, as ``score-vcf --per-variant``: the reference."""
        scores = np.full((self.n, len(offsets), 4), np.nan)
        jobs = [(i, b) for i in offsets for b in range(4) if tokens[i] < 4 and b != tokens[i]]
        for group in batched(jobs, self.per_call):
            lps = self.scorer.log_probs([w for _ in group for w in strand_windows(tokens, self.strands)])
            for k, (i, b) in enumerate(group):
                for s, lp in enumerate(strand_logprobs(lps[k * self.n : (k + 1) * self.n])):
                    scores[s, i - offsets[0], b] = lp[i, b] - lp[i, tokens[i]]
        return scores


class SupervisedIsm:
    """prediction(alt) - prediction(ref) of a fine-tuned sequence head for every SNV in a region."""

    def __init__(self, scorer, genome, cfg, chunk_bases: int):
        self.scorer, self.genome, self.cfg, self.chunk = scorer, genome, cfg, chunk_bases

    def run(self, region: Region) -> Iterator[IsmChunk]:
        length = self.genome.contigs[region.contig]
        w = min(self.cfg.context, length)
        tiling = make_tiling(length, self.cfg.context)
        for group in batched(range(region.start, region.end), self.chunk):
            starts = [min(max(p - w // 2, 0), length - w) for p in group]  # as score-vcf's supervised windows
            refs = {ws: self.genome.fetch_tokens(region.contig, ws, ws + w)[0] for ws in dict.fromkeys(starts)}
            ref = np.array([refs[ws][p - ws] for p, ws in zip(group, starts)], dtype=np.uint8)
            windows, slots = list(refs.values()), []
            for k, (p, ws) in enumerate(zip(group, starts)):
                for b in range(4):
                    if ref[k] < 4 and b != ref[k]:
                        mutant = refs[ws].copy()
                        mutant[p - ws] = b
                        windows.append(mutant)
                        slots.append((k, b))
            preds = self.scorer.predict(windows)
            base = dict(zip(refs, preds[: len(refs)]))
            scores = np.full((1, len(group), 4), np.nan)
            for (k, b), value in zip(slots, preds[len(refs) :]):
                scores[0, k, b] = value - base[starts[k]]
            near = np.array([tiling.near_end(p, p + 1) for p in group])
            yield IsmChunk(region.contig, group[0], ref, scores, near)
