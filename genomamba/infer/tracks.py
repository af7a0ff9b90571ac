"""Per-base tracks over regions or whole sequences, streamed in tiles so memory stays bounded at any length.

Tracks:

* a pretrained LM: ``log_p_ref`` = log P(reference base) (natural log; a gap where the reference is not A/C/G/T)
  and ``entropy`` of the predicted base distribution (nats), at every base. fusion "head": one pass per tile gives
  every position's four log-probabilities; fusion "layer": one masked pass per base, as ``score-vcf`` does. Strands
  as in ``score-vcf``: both (averaged) unless the model is RC-symmetric by construction.
* a fine-tuned head: ``prediction`` (``infer.readout``): per base for a position head (tiled like the LM), or for
  a sequence head one value per ``step`` bases, from the window of ``window`` bases centred on them (shifted inside
  the sequence at its ends).

Tiles and the design choice. A region is cut into tiles of ``tile`` bases; each tile is computed in one window
that reaches ``margin`` bases further on both sides (clipped at the sequence ends), and only the tile's own bases
are kept. An SSM has no finite receptive field, so a tile's values differ from one pass over the whole sequence by
what the scan carries across more than ``margin`` bases, which decays geometrically (state decay exp(dt * A), A < 0).
Carrying the scan state across tiles instead would be exact for one direction only: a bidirectional model needs the
reverse state from the right, so it would take a second sweep and state input/output in every scan kernel. We use
margins and hold tiled == single pass by test: exactly when the margins reach the sequence ends, and within 1e-3
(log-probability units) at margin 1024 on a random-init model whose slowest channels decay over ~1,000 bases. The
default margin (8192 for one-pass models) is eight times that; ``track.json`` records the tile and margin used.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from genomamba.alphabet import MASK
from genomamba.errors import GenomambaError
from genomamba.infer.config import AUTO_BATCH_BASES, TrackConfig
from genomamba.infer.regions import Region
from genomamba.vep.engine import strand_logprobs, strand_windows

LM_TRACKS = {
    "log_p_ref": "log P(reference base), natural log; no value where the reference is not ACGT",
    "entropy": "entropy of the predicted base distribution, nats",
}


@dataclass
class TileOut:
    """Values of one stretch [start, end): entry i of each track covers ``span`` bases from start + i * span."""

    contig: str
    start: int
    end: int
    values: dict[str, np.ndarray]
    span: int = 1


def tiles(region: Region, length: int, tile: int, margin: int) -> Iterator[tuple[int, int, int, int]]:
    """(lo, hi, window_lo, window_hi) for consecutive tiles [lo, hi) of ``region`` on a sequence of ``length``."""
    for lo in range(region.start, region.end, tile):
        hi = min(region.end, lo + tile)
        yield lo, hi, max(0, lo - margin), min(length, hi + margin)


def batched(items: Iterable, n: int) -> Iterator[list]:
    group: list = []
    for item in items:
        group.append(item)
        if len(group) == n:
            yield group
            group = []
    if group:
        yield group


def lm_values(per_strand: list[np.ndarray], tokens: np.ndarray) -> dict[str, np.ndarray]:
    """Per-strand (n, 4) log-probs (forward coordinates) + reference tokens (n,) -> the LM tracks, strand means."""
    ok = tokens < 4
    rows = np.arange(tokens.size)
    ref = np.where(ok, tokens, 0)
    logp = np.mean([lp[rows, ref] for lp in per_strand], axis=0).astype(np.float64)
    logp[~ok] = np.nan
    entropy = np.mean([-(np.exp(lp) * lp).sum(axis=1) for lp in per_strand], axis=0).astype(np.float64)
    return {"log_p_ref": logp, "entropy": entropy}


def _per_call(window: int, batch_size: int) -> int:
    return batch_size or max(1, AUTO_BATCH_BASES // max(window, 1))


class LmTracks:
    """log P(reference base) and entropy from a ``vep.scorers.ModelScorer``."""

    descriptions = LM_TRACKS

    def __init__(self, scorer, genome, cfg: TrackConfig):
        self.scorer, self.genome = scorer, genome
        self.masked = scorer.fusion == "layer"
        self.tile, self.margin = cfg.geometry(self.masked)
        self.strands = cfg.strands
        if self.strands == "auto":
            self.strands = "forward" if scorer.rc_equivariant else "both"
        self.n = 1 if self.strands == "forward" else 2
        self.per_call = _per_call(self.tile + 2 * self.margin, cfg.batch_size)
        scorer.batch_size = self.per_call * self.n

    def run(self, regions: list[Region]) -> Iterator[TileOut]:
        for region in regions:
            length = self.genome.contigs[region.contig]
            spans = tiles(region, length, self.tile, self.margin)
            if self.masked:
                for lo, hi, wlo, whi in spans:
                    yield self._masked(region.contig, lo, hi, wlo, whi)
            else:
                for group in batched(spans, self.per_call):
                    yield from self._one_pass(region, group)

    def _one_pass(self, region: Region, group) -> Iterator[TileOut]:
        fetched = [(lo, hi, wlo, self.genome.fetch_tokens(region.contig, wlo, whi)[0]) for lo, hi, wlo, whi in group]
        lps = self.scorer.log_probs([w for *_, t in fetched for w in strand_windows(t, self.strands)])
        for k, (lo, hi, wlo, tokens) in enumerate(fetched):
            keep = slice(lo - wlo, hi - wlo)
            per_strand = [lp[keep] for lp in strand_logprobs(lps[k * self.n : (k + 1) * self.n])]
            yield TileOut(region.contig, lo, hi, lm_values(per_strand, tokens[keep]))

    def _masked(self, contig: str, lo: int, hi: int, wlo: int, whi: int) -> TileOut:
        """fusion "layer": position p is predicted from the window with [MASK] at p, one pass per base."""
        tokens = self.genome.fetch_tokens(contig, wlo, whi)[0]
        rows = [np.empty((hi - lo, 4), dtype=np.float32) for _ in range(self.n)]
        for chunk in batched(range(lo, hi), self.per_call):
            windows = []
            for p in chunk:
                masked = tokens.copy()
                masked[p - wlo] = MASK
                windows += strand_windows(masked, self.strands)
            lps = self.scorer.log_probs(windows)
            for k, p in enumerate(chunk):
                for s, lp in enumerate(strand_logprobs(lps[k * self.n : (k + 1) * self.n])):
                    rows[s][p - lo] = lp[p - wlo]
        return TileOut(contig, lo, hi, lm_values(rows, tokens[lo - wlo : hi - wlo]))


class PositionHeadTracks:
    """A fine-tuned per-position head's prediction at every base, tiled like the one-pass LM."""

    def __init__(self, wrapper, readout, genome, cfg: TrackConfig, device: str):
        self.wrapper, self.readout, self.genome, self.device = wrapper, readout, genome, device
        self.tile, self.margin = cfg.geometry(masked=False)
        self.per_call = _per_call(self.tile + 2 * self.margin, cfg.batch_size)
        self.descriptions = {"prediction": f"fine-tuned position head: {readout.label}"}

    def run(self, regions: list[Region]) -> Iterator[TileOut]:
        import torch

        from genomamba.model.batching import pad_batch

        for region in regions:
            spans = tiles(region, self.genome.contigs[region.contig], self.tile, self.margin)
            for group in batched(spans, self.per_call):
                windows = [self.genome.fetch_tokens(region.contig, wlo, whi)[0] for _, _, wlo, whi in group]
                with torch.inference_mode():
                    pred = self.readout(self.wrapper(pad_batch(windows).to(self.device))).cpu().numpy()
                for row, (lo, hi, wlo, _) in enumerate(group):
                    yield TileOut(region.contig, lo, hi, {"prediction": pred[row, lo - wlo : hi - wlo]})


class SequenceHeadTracks:
    """A fine-tuned sequence head in sliding windows: one value per ``step`` bases."""

    def __init__(self, wrapper, readout, genome, cfg: TrackConfig, device: str, window: int):
        self.wrapper, self.readout, self.genome, self.device = wrapper, readout, genome, device
        self.window, self.step = window, cfg.step or max(1, window // 4)
        self.per_call = _per_call(window, cfg.batch_size)
        what = f"window {window} centred on each {self.step} bases"
        self.descriptions = {"prediction": f"fine-tuned sequence head: {readout.label}, {what}"}

    def window_start(self, contig: str, lo: int, hi: int) -> tuple[int, int]:
        """[start, end) of the window centred on [lo, hi), shifted inside the sequence."""
        length = self.genome.contigs[contig]
        w = min(self.window, length)
        ws = min(max((lo + hi) // 2 - w // 2, 0), length - w)
        return ws, ws + w

    def run(self, regions: list[Region]) -> Iterator[TileOut]:
        import torch

        from genomamba.model.batching import pad_batch

        for region in regions:
            blocks = range(region.start, region.end, self.step)
            for group in batched(blocks, self.per_call):
                spans = [self.window_start(region.contig, b, min(b + self.step, region.end)) for b in group]
                windows = [self.genome.fetch_tokens(region.contig, s, e)[0] for s, e in spans]
                with torch.inference_mode():
                    pred = self.readout(self.wrapper(pad_batch(windows).to(self.device))).cpu().numpy()
                end = min(group[-1] + self.step, region.end)
                yield TileOut(region.contig, group[0], end, {"prediction": pred.astype(np.float64)}, self.step)


def sequence_window(wrapper, cfg: TrackConfig, path) -> int:
    """The sliding window of a sequence head: ``cfg.window``, else the fine-tuning data's longest training row."""
    if cfg.window:
        return cfg.window
    summary = (getattr(wrapper, "extra", {}).get("finetune") or {}).get("data_summary") or {}
    longest = (summary.get("train") or {}).get("max_length")
    if not longest:
        raise GenomambaError("the checkpoint does not record its training sequence length; give --window", path)
    return int(longest)
