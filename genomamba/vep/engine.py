"""Variant-effect scoring engine: turns a list of ``Variant``s into per-ALT scores with a nucleotide model.

Scores (natural log, per ALT, both strands unless ``strands="forward"``; the mean is the reported score):

* SNV: LLR = log P(alt) - log P(ref) at the variant. fusion "head" models predict position p from x[<p] and x[>p]
  only, so one forward pass over a window (per strand) scores every variant inside it; fusion "layer" models see
  x[p], so the variant position is replaced by [MASK] (id 6) and each position gets its own pass.
* indel / MNV / complex (fusion "head" only): the haplotype score. The local region is the change (widened over the
  repeat it can slide in, so left- and right-aligned spellings agree) plus ``haplotype_flank`` bases on each side;
  its pseudo-log-likelihood sum_q log P(x_q | rest) is computed on the reference window and on the same window
  carrying the ALT allele; the score is mean-per-base(alt) - mean-per-base(ref) (length-normalised, so insertions
  are not penalised for adding bases). Flagged ``HAPLOTYPE_SCORE``: it is not on the SNV LLR scale.
* Everything else (symbolic, ``*``, breakends, non-ACGT, REF mismatch, unknown contig, ...) is flagged, unscored.

The window of a variant comes from ``alleles.Tiling`` (mirror-symmetric tiles of the contig): it depends only on
the variant's position, so sharing a pass never changes a score, and scores are strand-symmetric.

Memory is bounded: windows are scored ``batch_size`` sequences at a time and their log-probabilities dropped after
extraction (a few recent tiles are cached for sorted input). The VCF driver around this engine is ``run``;
planning (record checks, jobs) is ``plan``, and fine-tuned heads have their own engine, ``supervised``.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from genomamba.alphabet import MASK, encode, reverse_complement
from genomamba.vep.alleles import Tiling
from genomamba.vep.config import ScoreVcfConfig
from genomamba.vep.embedding import EmbeddingDistanceScorer, EmbeddingScorer
from genomamba.vep.plan import HapJob, Planner, SnvJob, set_scores
from genomamba.vep.refcheck import Variant
from genomamba.vep.scorers import Scorer, SupervisedScorer
from genomamba.vep.supervised import SupervisedEffectScorer
from genomamba.vep.writers import AlleleResult

# a tile's computed log-probabilities: (window start, window tokens (W,), per-strand (W, 4) in forward coordinates)
TileEntry = tuple[int, np.ndarray, list[np.ndarray]]


def strand_windows(fwd: np.ndarray, strands: str) -> list[np.ndarray]:
    """The windows one position's scores are computed on: the forward window, plus its reverse complement for
    ``strands`` "both"."""
    if strands == "forward":
        return [fwd]
    return [fwd, np.ascontiguousarray(reverse_complement(fwd))]


def strand_logprobs(lps: list[np.ndarray]) -> list[np.ndarray]:
    """Per strand (L, 4) log-probs in forward coordinates and forward base order: for the reverse strand,
    position i of the window is row L-1-i and base b is column 3-b (complement of A,C,G,T is T,G,C,A)."""
    out = [lps[0]]
    if len(lps) > 1:
        out.append(lps[1][::-1, ::-1])
    return out


class VariantEffectScorer:
    """Zero-shot scores of chunks of ``Variant``s against ``genome`` with a log-probability ``scorer``."""

    score_kind = "llr"

    def __init__(self, scorer: Scorer, genome, config: ScoreVcfConfig, source: str | None = None):
        self.scorer = scorer
        self.genome = genome
        self.cfg = config
        self.fusion = scorer.fusion
        self.planner = Planner(genome, config, scorer.fusion, source)
        self.counts = self.planner.counts
        self.strands = config.strands
        if self.strands == "auto":
            self.strands = "forward" if scorer.rc_equivariant else "both"
        self._cache: OrderedDict[tuple[str, int], TileEntry] = OrderedDict()

    @property
    def unknown_contigs(self) -> set[str]:
        return self.planner.checker.unknown_contigs

    def tiling(self, contig: str) -> Tiling:
        return self.planner.tiling(contig)

    @property
    def _n_strands(self) -> int:
        return 1 if self.strands == "forward" else 2

    def _strand_windows(self, fwd: np.ndarray) -> list[np.ndarray]:
        return strand_windows(fwd, self.strands)

    def _strand_logprobs(self, lps: list[np.ndarray]) -> list[np.ndarray]:
        return strand_logprobs(lps)

    def _per_batch(self) -> int:
        """Windows (variants or tiles) per scorer call: each one is scored on every strand used."""
        return max(1, self.cfg.effective_batch_size // self._n_strands)

    def score(self, variants: list[Variant]) -> list[list[AlleleResult]]:
        plan = self.planner.plan(variants)
        if self.fusion == "head":
            self._score_head(plan.snvs, plan.haps)
        else:
            self._score_layer(plan.snvs)
        self.planner.tally(plan.results)
        return plan.results

    def _tile_window(self, contig: str, tile: int) -> tuple[int, np.ndarray]:
        ws, we = self.tiling(contig).window(tile)
        return ws, self.genome.fetch_tokens(contig, ws, we)[0]

    # ------------------------------------------------------------------------------ fusion "head": shared tiles
    def _score_head(self, snvs: list[SnvJob], haps: list[HapJob]) -> None:
        by_tile: dict[tuple[str, int], tuple[list[SnvJob], list[HapJob]]] = {}
        for job in snvs:
            key = (job.contig, self.tiling(job.contig).tile_of(job.pos))
            by_tile.setdefault(key, ([], []))[0].append(job)
        for job in haps:
            key = (job.contig, self.tiling(job.contig).tile_of_span(job.lo, job.hi))
            by_tile.setdefault(key, ([], []))[1].append(job)
        if self.cfg.per_variant:
            # reference mode: a separate pass over the variant's own window for every SNV (what sharing saves)
            for key, (tile_snvs, tile_haps) in by_tile.items():
                for job in tile_snvs:
                    self._extract_tile([job], [], self._run_tiles([key], cache=False)[key])
                if tile_haps:
                    self._extract_tile([], tile_haps, self._run_tiles([key], cache=False)[key])
        else:
            keys = list(by_tile)
            per_batch = self._per_batch()
            for b in range(0, len(keys), per_batch):
                group = keys[b : b + per_batch]
                computed = self._run_tiles(group, cache=True)
                for key in group:
                    self._extract_tile(*by_tile[key], computed[key])
        self._score_alt_haplotypes(haps)

    def _run_tiles(self, keys: list[tuple[str, int]], cache: bool) -> dict[tuple[str, int], TileEntry]:
        """Log-probs of the reference windows of ``keys`` (recent ones from the tile cache)."""
        out, todo = {}, []
        for key in keys:
            if cache and key in self._cache:
                self._cache.move_to_end(key)
                out[key] = self._cache[key]
                self.counts["tiles_from_cache"] += 1
            else:
                todo.append(key)
        if not todo:
            return out
        windows, starts = [], []
        for key in todo:
            ws, fwd = self._tile_window(*key)
            starts.append((ws, fwd))
            windows.extend(self._strand_windows(fwd))
        lps = self.scorer.log_probs(windows)
        n = self._n_strands
        for i, key in enumerate(todo):
            entry = (starts[i][0], starts[i][1], self._strand_logprobs(lps[i * n : (i + 1) * n]))
            out[key] = entry
            self.counts["tile_passes"] += 1
            if cache:
                self._cache[key] = entry
                while len(self._cache) > self.cfg.tile_cache:
                    self._cache.popitem(last=False)
        return out

    def _extract_tile(self, snvs: list[SnvJob], haps: list[HapJob], entry: TileEntry) -> None:
        ws, tokens, strand_lps = entry
        for job in snvs:
            i = job.pos - ws
            set_scores(job.result, [float(lp[i, job.alt] - lp[i, job.ref]) for lp in strand_lps])
        for job in haps:
            r0, r1 = self._region(job, ws, ws + tokens.size)
            x = tokens[r0 - ws : r1 - ws]
            job.ref_terms = [_mean_pll(lp[r0 - ws : r1 - ws], x) for lp in strand_lps]

    def _region(self, job: HapJob, ws: int, we: int) -> tuple[int, int]:
        hf = self.cfg.haplotype_flank
        return max(job.lo - hf, ws), min(job.hi + hf, we)

    def _score_alt_haplotypes(self, haps: list[HapJob]) -> None:
        """The ALT side of each haplotype score: its tile's window carrying the ALT allele, one pass each."""
        n, per_batch = self._n_strands, self._per_batch()
        for b in range(0, len(haps), per_batch):
            group = haps[b : b + per_batch]
            windows, meta = [], []
            for job in group:
                ws, fwd = self._tile_window(job.contig, self.tiling(job.contig).tile_of_span(job.lo, job.hi))
                s = job.start - ws
                alt_w = np.concatenate([fwd[:s], encode(job.alt_core), fwd[s + len(job.ref_core) :]])
                r0, r1 = self._region(job, ws, ws + fwd.size)
                delta = len(job.alt_core) - len(job.ref_core)
                meta.append((r0 - ws, r1 - ws + delta, alt_w))
                windows.extend(self._strand_windows(alt_w))
            lps = self.scorer.log_probs(windows)
            self.counts["haplotype_passes"] += len(group)
            for k, job in enumerate(group):
                a0, a1, alt_w = meta[k]
                strand_lps = self._strand_logprobs(lps[k * n : (k + 1) * n])
                alt_terms = [_mean_pll(lp[a0:a1], alt_w[a0:a1]) for lp in strand_lps]
                set_scores(job.result, [a - r for a, r in zip(alt_terms, job.ref_terms)])

    # ------------------------------------------------------------------------------ fusion "layer": masked passes
    def _score_layer(self, snvs: list[SnvJob]) -> None:
        """One masked pass per distinct position (and strand); all ALTs there share it."""
        by_pos: dict[tuple[str, int], list[SnvJob]] = {}
        for job in snvs:
            by_pos.setdefault((job.contig, job.pos), []).append(job)
        keys = list(by_pos)
        n, per_batch = self._n_strands, self._per_batch()
        for b in range(0, len(keys), per_batch):
            group = keys[b : b + per_batch]
            windows, offsets = [], []
            for contig, pos in group:
                ws, fwd = self._tile_window(contig, self.tiling(contig).tile_of(pos))
                masked = fwd.copy()
                masked[pos - ws] = MASK
                offsets.append(pos - ws)
                windows.extend(self._strand_windows(masked))
            lps = self.scorer.log_probs(windows)
            self.counts["masked_passes"] += len(group)
            for k, key in enumerate(group):
                strand_lps = self._strand_logprobs(lps[k * n : (k + 1) * n])
                i = offsets[k]
                for job in by_pos[key]:
                    set_scores(job.result, [float(lp[i, job.alt] - lp[i, job.ref]) for lp in strand_lps])


def _mean_pll(lp: np.ndarray, x: np.ndarray) -> float:
    """Mean log P(x_q) over the A/C/G/T positions of a region: lp (n, 4), x (n,) tokens."""
    ok = x < 4
    if not ok.any():
        return float("nan")
    return float(lp[np.flatnonzero(ok), x[ok]].mean())


Engine = VariantEffectScorer | SupervisedEffectScorer | EmbeddingDistanceScorer


def make_engine(scorer, genome, config: ScoreVcfConfig, source: str | None = None) -> Engine:
    """The engine for ``scorer``: zero-shot log-probabilities, hidden-state distances, or the fine-tuned head's
    prediction change."""
    if isinstance(scorer, SupervisedScorer):
        return SupervisedEffectScorer(scorer, genome, config, source)
    if isinstance(scorer, EmbeddingScorer):
        return EmbeddingDistanceScorer(scorer, genome, config, source)
    return VariantEffectScorer(scorer, genome, config, source)
