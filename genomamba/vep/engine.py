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

The window of a variant comes from ``vep_alleles.Tiling`` (mirror-symmetric tiles of the contig): it depends only on
the variant's position, so sharing a pass never changes a score, and scores are strand-symmetric.

Memory is bounded: windows are scored ``batch_size`` sequences at a time and their log-probabilities dropped after
extraction (a few recent tiles are cached for sorted input). The VCF driver around this engine is ``vep``.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

import numpy as np

from genomamba.alphabet import MASK, reverse_complement
from genomamba.errors import GenomambaError
from genomamba.vep.alleles import (
    FLAG_HAPLOTYPE,
    FLAG_INDEL_TOO_LONG,
    FLAG_NEAR_END,
    FLAG_NEEDS_FUSION_HEAD,
    FLAG_NON_FINITE,
    FLAG_OUT_OF_RANGE,
    FLAG_REF_MISMATCH,
    FLAG_UNKNOWN_CONTIG,
    UNSCORED_FLAGS,
    Tiling,
    allele_kind,
    equivalent_span,
    make_tiling,
    trim_alleles,
)
from genomamba.vep.config import ScoreVcfConfig
from genomamba.vep.writers import AlleleResult

# the logger keeps the name it had before the engine was split out of vep.py, so log lines read as before
log = logging.getLogger("genomamba.vep.run")

_BASE = {"A": 0, "C": 1, "G": 2, "T": 3}


@dataclass
class Variant:
    """One VCF record as the scorer needs it (1-based ``pos`` as in the file)."""

    chrom: str
    pos: int
    ref: str
    alts: tuple[str, ...]
    where: str = ""  # "line N" for error messages


@dataclass
class _SnvJob:
    result: AlleleResult
    contig: str
    pos: int  # 0-based
    ref: int  # base index 0-3
    alt: int


@dataclass
class _HapJob:
    result: AlleleResult
    contig: str
    lo: int  # equivalent span [lo, hi) in ref coordinates
    hi: int
    start: int  # change: ref_core at [start, start + len(ref_core)) -> alt_core
    ref_core: str
    alt_core: str
    ref_terms: list[float] = field(default_factory=list)  # per strand: mean per-base PLL on the reference


class VariantEffectScorer:
    """Scores chunks of ``Variant``s against ``genome`` with ``scorer`` (``vep_scorers.ModelScorer``/``KmerScorer``)."""

    def __init__(self, scorer, genome, config: ScoreVcfConfig, source: str | None = None):
        self.scorer = scorer
        self.genome = genome
        self.cfg = config
        self.source = source
        self.fusion = scorer.fusion
        self.strands = config.strands
        if self.strands == "auto":
            self.strands = "forward" if getattr(scorer, "rc_equivariant", False) else "both"
        self._contigs: dict[str, str | None] = {}
        self._tilings: dict[str, Tiling] = {}
        self._cache: OrderedDict[tuple[str, int], tuple[int, np.ndarray, list[np.ndarray]]] = OrderedDict()
        self.counts: Counter = Counter()
        self.unknown_contigs: set[str] = set()
        self._warned = 0

    # ------------------------------------------------------------------------------------------ helpers
    def resolve(self, chrom: str) -> str | None:
        if chrom not in self._contigs:
            try:
                self._contigs[chrom] = self.genome.resolve(chrom)
            except GenomambaError as exc:
                if "ambiguous" in exc.problem:
                    raise
                self._contigs[chrom] = None
                self.unknown_contigs.add(chrom)
        return self._contigs[chrom]

    def tiling(self, contig: str) -> Tiling:
        if contig not in self._tilings:
            self._tilings[contig] = make_tiling(self.genome.contigs[contig], self.cfg.context)
        return self._tilings[contig]

    def _strand_windows(self, fwd: np.ndarray) -> list[np.ndarray]:
        if self.strands == "forward":
            return [fwd]
        return [fwd, np.ascontiguousarray(reverse_complement(fwd))]

    def _strand_logprobs(self, lps: list[np.ndarray]) -> list[np.ndarray]:
        """Per strand (L, 4) log-probs in forward coordinates and forward base order: for the reverse strand,
        position i of the window is row L-1-i and base b is column 3-b (complement of A,C,G,T is T,G,C,A)."""
        out = [lps[0]]
        if len(lps) > 1:
            out.append(lps[1][::-1, ::-1])
        return out

    # ------------------------------------------------------------------------------------------ planning
    def plan(self, variants: list[Variant]) -> tuple[list[list[AlleleResult]], list[_SnvJob], list[_HapJob]]:
        results: list[list[AlleleResult]] = []
        snvs: list[_SnvJob] = []
        haps: list[_HapJob] = []
        for v in variants:
            self.counts["records"] += 1
            record_flags = self._check_record(v)
            contig = self.resolve(v.chrom)
            alleles = []
            for alt in v.alts:
                self.counts["alleles"] += 1
                kind, flag = allele_kind(v.ref, alt)
                res = AlleleResult(alt=alt if alt is not None else ".", kind=kind, flags=list(record_flags))
                if flag is not None:
                    res.flags.append(flag)
                alleles.append(res)
                if any(f in UNSCORED_FLAGS for f in res.flags):
                    continue
                start, ref_core, alt_core = trim_alleles(v.pos - 1, v.ref.upper(), alt.upper())
                tiling = self.tiling(contig)
                if kind == "snv":
                    if tiling.near_end(start, start + 1):
                        res.flags.append(FLAG_NEAR_END)
                    snvs.append(_SnvJob(res, contig, start, _BASE[ref_core], _BASE[alt_core]))
                    continue
                if self.fusion != "head":
                    res.flags.append(FLAG_NEEDS_FUSION_HEAD)
                    continue
                longest = max(len(ref_core), len(alt_core))
                span_window = 2 * self.cfg.haplotype_flank + longest
                if longest > self.cfg.max_indel_length or span_window > tiling.flank:
                    res.flags.append(FLAG_INDEL_TOO_LONG)
                    continue
                # the repeat the indel can slide in, read from a local stretch of reference
                pad = self.cfg.max_indel_length + 2 * self.cfg.haplotype_flank + 64
                r0 = max(0, start - pad)
                r1 = min(tiling.length, start + len(ref_core) + pad)
                local = self.genome.fetch_tokens(contig, r0, r1)[0]
                lo, hi = equivalent_span(local, r0, start, ref_core, alt_core)
                if hi - lo + 2 * self.cfg.haplotype_flank > tiling.flank:
                    res.flags.append(FLAG_INDEL_TOO_LONG)
                    continue
                if tiling.near_end(lo, hi):
                    res.flags.append(FLAG_NEAR_END)
                res.flags.append(FLAG_HAPLOTYPE)
                haps.append(_HapJob(res, contig, lo, hi, start, ref_core, alt_core))
            results.append(alleles)
        return results, snvs, haps

    def _check_record(self, v: Variant) -> list[str]:
        """Record-level flags: unknown contig, position outside it, REF disagreeing with the FASTA."""
        contig = self.resolve(v.chrom)
        if contig is None:
            self.counts["records_unknown_contig"] += 1
            return [FLAG_UNKNOWN_CONTIG]
        start, ref = v.pos - 1, v.ref.upper()
        length = self.genome.contigs[contig]
        if start < 0 or start + max(1, len(ref)) > length:
            self.counts["records_out_of_range"] += 1
            return [FLAG_OUT_OF_RANGE]
        actual = self.genome.fetch(contig, start, start + len(ref)).upper() if ref not in ("", ".") else ""
        if actual != ref:
            self.counts["records_ref_mismatch"] += 1
            problem = f"REF {v.ref} does not match the reference ({actual or '?'}) at {v.chrom}:{v.pos}"
            if self.cfg.ref_check == "error":
                raise GenomambaError(
                    problem + " (wrong reference build? --ref-check warn|skip flags such records instead)",
                    self.source,
                    v.where or None,
                )
            if self.cfg.ref_check == "warn":
                if self._warned < 10:
                    log.warning("%s: %s%s", v.where, problem, "; further mismatches are counted only" if
                                self._warned == 9 else "")  # fmt: skip
                self._warned += 1
            return [FLAG_REF_MISMATCH]
        return []

    # ------------------------------------------------------------------------------------------ scoring
    def score(self, variants: list[Variant]) -> list[list[AlleleResult]]:
        results, snvs, haps = self.plan(variants)
        if self.fusion == "head":
            self._score_head(snvs, haps)
        else:
            self._score_layer(snvs)
        for alleles in results:
            for a in alleles:
                if a.llr is not None:
                    self.counts["scored"] += 1
                for f in a.flags:
                    self.counts[f"flag:{f}"] += 1
        return results

    def _tile_window(self, contig: str, tile: int) -> tuple[int, np.ndarray]:
        ws, we = self.tiling(contig).window(tile)
        return ws, self.genome.fetch_tokens(contig, ws, we)[0]

    def _score_head(self, snvs: list[_SnvJob], haps: list[_HapJob]) -> None:
        by_tile: dict[tuple[str, int], tuple[list[_SnvJob], list[_HapJob]]] = {}
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
                    self._extract_tile(key, [job], [], self._run_tiles([key], cache=False)[key])
                if tile_haps:
                    self._extract_tile(key, [], tile_haps, self._run_tiles([key], cache=False)[key])
        else:
            keys = list(by_tile)
            per_batch = max(1, self.cfg.effective_batch_size // (1 if self.strands == "forward" else 2))
            for b in range(0, len(keys), per_batch):
                group = keys[b : b + per_batch]
                computed = self._run_tiles(group, cache=True)
                for key in group:
                    self._extract_tile(key, *by_tile[key], computed[key])
        self._score_alt_haplotypes(haps)

    def _run_tiles(self, keys, cache: bool) -> dict:
        """Log-probs of the reference windows of ``keys`` -> {key: (start, tokens, [per-strand (W, 4)])}."""
        out, todo = {}, []
        for key in keys:
            if cache and key in self._cache:
                self._cache.move_to_end(key)
                out[key] = self._cache[key]
                self.counts["tiles_from_cache"] += 1
            else:
                todo.append(key)
        windows, starts = [], []
        for key in todo:
            ws, fwd = self._tile_window(*key)
            starts.append((ws, fwd))
            windows.extend(self._strand_windows(fwd))
        if todo:
            lps = self.scorer.log_probs(windows)
            n = 1 if self.strands == "forward" else 2
            for i, key in enumerate(todo):
                entry = (starts[i][0], starts[i][1], self._strand_logprobs(lps[i * n : (i + 1) * n]))
                out[key] = entry
                self.counts["tile_passes"] += 1
                if cache:
                    self._cache[key] = entry
                    while len(self._cache) > self.cfg.tile_cache:
                        self._cache.popitem(last=False)
        return out

    def _extract_tile(self, key, snvs: list[_SnvJob], haps: list[_HapJob], entry) -> None:
        ws, tokens, strand_lps = entry
        for job in snvs:
            i = job.pos - ws
            per_strand = [float(lp[i, job.alt] - lp[i, job.ref]) for lp in strand_lps]
            _set_scores(job.result, per_strand)
        for job in haps:
            r0, r1 = self._region(job, ws, ws + tokens.size)
            x = tokens[r0 - ws : r1 - ws]
            job.ref_terms = [_mean_pll(lp[r0 - ws : r1 - ws], x) for lp in strand_lps]

    def _region(self, job: _HapJob, ws: int, we: int) -> tuple[int, int]:
        hf = self.cfg.haplotype_flank
        return max(job.lo - hf, ws), min(job.hi + hf, we)

    def _score_alt_haplotypes(self, haps: list[_HapJob]) -> None:
        n = 1 if self.strands == "forward" else 2
        per_batch = max(1, self.cfg.effective_batch_size // n)
        for b in range(0, len(haps), per_batch):
            group = haps[b : b + per_batch]
            windows, meta = [], []
            for job in group:
                tiling = self.tiling(job.contig)
                ws, fwd = self._tile_window(job.contig, tiling.tile_of_span(job.lo, job.hi))
                we = ws + fwd.size
                alt_tokens = np.array([_BASE[c] for c in job.alt_core], dtype=np.uint8)
                s = job.start - ws
                alt_w = np.concatenate([fwd[:s], alt_tokens, fwd[s + len(job.ref_core) :]])
                r0, r1 = self._region(job, ws, we)
                delta = len(job.alt_core) - len(job.ref_core)
                meta.append((r0 - ws, r1 - ws + delta, alt_w))
                windows.extend(self._strand_windows(alt_w))
            lps = self.scorer.log_probs(windows)
            self.counts["haplotype_passes"] += len(group)
            for k, job in enumerate(group):
                a0, a1, alt_w = meta[k]
                strand_lps = self._strand_logprobs(lps[k * n : (k + 1) * n])
                alt_terms = [_mean_pll(lp[a0:a1], alt_w[a0:a1]) for lp in strand_lps]
                _set_scores(job.result, [a - r for a, r in zip(alt_terms, job.ref_terms)])

    def _score_layer(self, snvs: list[_SnvJob]) -> None:
        """fusion "layer": one masked pass per distinct position (and strand); all ALTs there share it."""
        by_pos: dict[tuple[str, int], list[_SnvJob]] = {}
        for job in snvs:
            by_pos.setdefault((job.contig, job.pos), []).append(job)
        keys = list(by_pos)
        n = 1 if self.strands == "forward" else 2
        per_batch = max(1, self.cfg.effective_batch_size // n)
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
                    _set_scores(job.result, [float(lp[i, job.alt] - lp[i, job.ref]) for lp in strand_lps])


class SupervisedEffectScorer(VariantEffectScorer):
    """Supervised mode: change of a fine-tuned sequence head's prediction between the ALT and REF sequence.

    Each allele (SNV, MNV or indel) gets a window of ``context`` bases centred on the change (shifted inside the
    contig); the ALT window carries the allele. Score = pred(alt) - pred(ref), pred = probability of class
    ``output_index`` (classification) or target ``output_index`` in its original units (regression). Strand
    handling is the head's own (``strands: both`` averages the features of both strands).
    """

    def __init__(self, wrapper, genome, config: ScoreVcfConfig, output_index: int, meta: dict, source=None):
        self.wrapper = wrapper.eval()
        self.task = meta.get("task", wrapper.head_config.task)
        self.output_index = output_index
        self.scale = float(meta.get("target_std") or 1.0) if self.task == "regression" else 1.0
        stub = _NoScorer()
        super().__init__(stub, genome, config, source)
        self.strands = "forward"

    def score(self, variants: list[Variant]) -> list[list[AlleleResult]]:
        results, snvs, haps = self.plan(variants)
        jobs = [(j.result, j.contig, j.pos, j.pos, j.pos + 1, "ACGT"[j.ref], "ACGT"[j.alt]) for j in snvs]
        jobs += [(j.result, j.contig, j.start, j.lo, j.hi, j.ref_core, j.alt_core) for j in haps]
        per_batch = max(1, self.cfg.effective_batch_size // 2)
        for b in range(0, len(jobs), per_batch):
            group = jobs[b : b + per_batch]
            windows = []
            for _, contig, start, lo, hi, ref_core, alt_core in group:
                length = self.genome.contigs[contig]
                w = min(self.cfg.context, length)
                ws = min(max((lo + hi) // 2 - w // 2, 0), length - w)
                ref_w = self.genome.fetch_tokens(contig, ws, ws + w)[0]
                alt = np.array([_BASE[c] for c in alt_core], dtype=np.uint8)
                s = start - ws
                windows += [ref_w, np.concatenate([ref_w[:s], alt, ref_w[s + len(ref_core) :]])]
            preds = self._predict(windows)
            self.counts["supervised_passes"] += len(group)
            for k, job in enumerate(group):
                _set_scores(job[0], [float(preds[2 * k + 1] - preds[2 * k]) * self.scale])
        for alleles in results:
            for a in alleles:
                self.counts["scored"] += a.llr is not None
                for f in a.flags:
                    self.counts[f"flag:{f}"] += 1
        return results

    def _predict(self, windows: list[np.ndarray]) -> np.ndarray:
        import torch

        from genomamba.model.batching import pad_batch

        with torch.inference_mode():
            out = self.wrapper(pad_batch(windows)).float()
        if self.task == "classification":
            out = torch.softmax(out, dim=-1)
        return out[:, self.output_index].numpy()


def _mean_pll(lp: np.ndarray, x: np.ndarray) -> float:
    """Mean log P(x_q) over the A/C/G/T positions of a region: lp (n, 4), x (n,) tokens."""
    ok = x < 4
    if not ok.any():
        return float("nan")
    return float(lp[np.flatnonzero(ok), x[ok]].mean())


def _set_scores(result: AlleleResult, per_strand: list[float]) -> None:
    if not all(np.isfinite(per_strand)):
        # a NaN/inf from the model (e.g. a diverged checkpoint) is never written as a score
        result.flags.append(FLAG_NON_FINITE)
        return
    result.llr_fwd = per_strand[0]
    result.llr_rev = per_strand[1] if len(per_strand) > 1 else None
    result.llr = float(np.mean(per_strand))


class _NoScorer:
    # stand-in model for engines that never call log_probs: the supervised scorer, and vep._ref_precheck
    fusion = "head"
    n_sequences = 0
