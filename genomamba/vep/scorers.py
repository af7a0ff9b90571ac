"""Scorers: what turns token windows into the numbers variant scores are made of, and ``load_scorer``.

* ``Scorer`` (protocol): per-position nucleotide log-probabilities for zero-shot LLRs. ``log_probs`` maps token
  windows (uint8 (L_i,), ids 0-6) to (L_i, 4) natural-log probabilities of A, C, G, T; ``fusion`` "head" means the
  prediction at p never sees x[p] (one pass scores every position of a window), "layer" means the caller puts
  [MASK] at the scored position. ``ModelScorer`` (a pretrained checkpoint) and ``KmerScorer`` (the two-sided k-mer
  baseline) implement it.
* ``SupervisedScorer``: a fine-tuned sequence head; ``predict`` gives one value per window (the probability of a
  class, or a regression target), and variant scores are differences of predictions, not log-probabilities.

Every scorer counts its work (``n_forward`` calls, ``n_sequences`` windows) and ``describe``s itself for the
output's provenance.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from genomamba.atomic import file_digest
from genomamba.baselines.kmer import KmerModel, context_log2_probs, fit_kmer
from genomamba.errors import GenomambaError
from genomamba.vep.config import MAX_KMER_ORDER, ScoreVcfConfig

log = logging.getLogger(__name__)

Fusion = Literal["head", "layer"]
_LN2 = float(np.log(2.0))


@runtime_checkable
class Scorer(Protocol):
    """A zero-shot log-probability provider (see the module docstring)."""

    fusion: Fusion
    rc_equivariant: bool  # True: scoring the reverse complement would only repeat the forward value
    n_forward: int  # calls of the underlying model so far
    n_sequences: int  # windows scored so far

    def log_probs(self, windows: list[np.ndarray]) -> list[np.ndarray]:
        """uint8 windows (L_i,) -> float32 (L_i, 4) natural-log probabilities of A, C, G, T at every position."""
        ...

    def describe(self) -> dict[str, str]:
        """Provenance entries (at least "model") for the output header."""
        ...


def _checkpoint_provenance(path: Path) -> dict[str, str]:
    weights = path / "model.safetensors"
    return {
        "checkpoint": str(path.resolve()),
        "checkpoint_sha256": file_digest(weights) if weights.is_file() else "unknown",
    }


class ModelScorer:
    """A pretrained genomamba LM as a ``Scorer``: windows are batched by length (``batch_size`` per forward pass),
    padded with [PAD] (the model gives padding its own segment, so it never changes real positions) and scored on
    ``device``; the model is moved there once."""

    def __init__(self, model, batch_size: int, device: str = "cpu", checkpoint: Path | None = None):
        self.device = device
        self.model = model.to(device).eval()
        self.fusion = model.config.fusion
        self.rc_equivariant = model.config.rc_symmetric_inference  # one strand then gives both strands' scores
        self.batch_size = max(1, int(batch_size))
        self.checkpoint = checkpoint
        self.n_forward = 0
        self.n_sequences = 0

    def log_probs(self, windows: list[np.ndarray]) -> list[np.ndarray]:
        from genomamba.model import nucleotide_log_probs

        def forward(ids):  # (B, width) -> (B, width, 4)
            return nucleotide_log_probs(self.model, ids).float().cpu().numpy()

        return self.batched(windows, forward, lambda lp, row, i: lp[row, : len(windows[i])])

    def batched(self, windows: list[np.ndarray], forward, take) -> list:
        """Run ``forward`` on length-sorted, padded batches of ``windows`` (similar lengths share a batch) on the
        device; ``take(result, row, i)`` picks window ``i``'s part from row ``row`` of a batch's result."""
        import torch

        from genomamba.model.batching import length_batches, pad_batch

        out: list = [None] * len(windows)
        with torch.inference_mode():
            for idx in length_batches(windows, self.batch_size):
                result = forward(pad_batch([windows[i] for i in idx]).to(self.device))
                for row, i in enumerate(idx):
                    out[i] = take(result, row, i)
                self.n_forward += 1
                self.n_sequences += len(idx)
        return out

    def describe(self) -> dict[str, str]:
        c = self.model.config
        prov = _checkpoint_provenance(self.checkpoint) if self.checkpoint is not None else {}
        return {**prov, "model": f"fusion={c.fusion} rc={c.rc} d_model={c.d_model} n_layer={c.n_layer}"}


class SupervisedScorer:
    """A fine-tuned sequence head: ``predict`` gives, per window, the head's read-out (``infer.readout``): the
    probability of class ``output_index`` (binary: of the positive class), or target ``output_index`` in its own
    units (regression), so differences are in those units."""

    def __init__(
        self,
        wrapper,
        output_index: int | None,
        context: int,
        batch_size: int,
        device: str = "cpu",
        checkpoint: Path | None = None,
    ):
        from genomamba.infer.readout import HeadReadout

        self.readout = HeadReadout.of(wrapper, output_index, checkpoint)
        self.device = device
        self.wrapper = wrapper.to(device).eval()
        self.task = self.readout.task
        self.output_index = self.readout.index
        self.head_strands = wrapper.head_config.strands
        self.context = context
        self.batch_size = max(1, int(batch_size))
        self.checkpoint = checkpoint
        self.n_forward = 0
        self.n_sequences = 0

    def predict(self, windows: list[np.ndarray]) -> np.ndarray:
        """uint8 windows (L_i,) -> (n,) float64 predictions."""
        import torch

        from genomamba.model.batching import length_batches, pad_batch

        out = np.empty(len(windows), dtype=np.float64)
        with torch.inference_mode():
            for idx in length_batches(windows, self.batch_size):
                pred = self.readout(self.wrapper(pad_batch([windows[i] for i in idx]).to(self.device)))
                out[idx] = pred.cpu().numpy()
                self.n_forward += 1
                self.n_sequences += len(idx)
        return out

    def describe(self) -> dict[str, str]:
        prov = _checkpoint_provenance(self.checkpoint) if self.checkpoint is not None else {}
        return {
            **prov,
            "model": f"fine-tuned sequence head ({self.task}), supervised delta of {self.readout.label}: "
            f"prediction(alt) - prediction(ref), windows of {self.context} bases centred on the variant",
        }


class KmerScorer:
    """The trivial baseline as a ``Scorer``: the two-sided k-mer model of ``baselines.kmer`` (the one behind the
    pretraining bits/base baselines), P(x_p | k bases left, k bases right), counted on both strands of the
    reference itself with hierarchical smoothing (order k shrinks to order k-1, strength ``alpha``) and back-off to
    the longest clean context at N bases and window edges. Like fusion "head" it never sees x[p]."""

    fusion: Fusion = "head"
    rc_equivariant = True  # counts from both strands: P(b | L, R) = P(comp b | rc R, rc L)

    def __init__(self, k: int, alpha: float = 1.0):
        if not 1 <= k <= MAX_KMER_ORDER:
            raise ValueError(f"k-mer baseline order must be 1..{MAX_KMER_ORDER}, got {k}")
        self.k = k
        self.alpha = float(alpha)
        self.model: KmerModel | None = None
        self.n_forward = 0
        self.n_sequences = 0

    def fit(self, segments: Iterable[np.ndarray]) -> KmerScorer:
        """Count contexts on both strands of every segment (uint8 tokens; contexts never cross N)."""
        self.model = fit_kmer(segments, self.k, two_sided=True, alpha=self.alpha)
        return self

    def log_probs(self, windows: list[np.ndarray]) -> list[np.ndarray]:
        if self.model is None:
            raise RuntimeError("KmerScorer.fit must run before log_probs")
        out = [(context_log2_probs(self.model, w, self.k) * _LN2).astype(np.float32) for w in windows]
        self.n_sequences += len(windows)
        self.n_forward += 1
        return out

    def describe(self) -> dict[str, str]:
        return {"model": f"two-sided k-mer baseline, k={self.k}, fitted on the reference (both strands)"}


def check_score_source(cfg: ScoreVcfConfig, checkpoint: str | None, kmer: int | None) -> None:
    """Scores other than the LLR need a pretrained LM: refuse the k-mer baseline and fine-tuned heads (cheap: reads
    the checkpoint's config only, so it can run before any input is read)."""
    if cfg.score == "llr":
        return
    if kmer is not None:
        raise GenomambaError(f"--score {cfg.score} needs a model checkpoint (the k-mer baseline has no embeddings)")
    from genomamba.model.checkpoint import read_meta

    if checkpoint is not None and read_meta(checkpoint).get("kind", "lm") != "lm":
        problem = f"--score {cfg.score} needs a pretrained LM; a fine-tuned head gives prediction deltas"
        raise GenomambaError(problem, checkpoint)


def load_scorer(
    genome,
    cfg: ScoreVcfConfig,
    checkpoint: str | None = None,
    kmer: int | None = None,
    backend: str | None = None,
    output_index: int | None = None,
) -> Scorer | SupervisedScorer:
    """The scorer of a run: the k-mer baseline fitted on ``genome`` (order ``kmer``), a pretrained LM (its hidden
    states for ``cfg.score`` "embedding-distance"), or a
    fine-tuned sequence head (``output_index``: default the last output) from ``checkpoint``, loaded onto
    ``cfg.device`` (``genomamba.devices``: auto picks CUDA when present; the scan backend follows the device)."""
    if (checkpoint is None) == (kmer is None):
        raise GenomambaError("give exactly one of a checkpoint or a k-mer baseline order")
    check_score_source(cfg, checkpoint, kmer)
    if kmer is not None:
        if not 1 <= kmer <= MAX_KMER_ORDER:
            raise GenomambaError(f"k-mer baseline order must be 1..{MAX_KMER_ORDER}, got {kmer}")
        t0 = time.perf_counter()
        segments = (genome.fetch_tokens(name, 0, length)[0] for name, length in genome.contigs.items())
        scorer = KmerScorer(kmer).fit(segments)
        seconds = time.perf_counter() - t0
        log.info("two-sided k-mer baseline (k=%d) fitted on both strands of the reference in %.1f s", kmer, seconds)
        return scorer
    from genomamba.bundled import resolve_checkpoint
    from genomamba.model import load_for_inference
    from genomamba.model.checkpoint import read_meta

    path = resolve_checkpoint(checkpoint)  # a directory, or a bundled model name ("default")
    if not path.is_dir():
        raise GenomambaError("checkpoint directory not found", path)
    kind = read_meta(path).get("kind", "lm")
    if kind == "position":
        raise GenomambaError("per-position fine-tuned heads are not supported by score-vcf (sequence heads are)", path)
    model, device = load_for_inference(path, cfg.device, backend)
    if cfg.score == "embedding-distance":
        from genomamba.vep.embedding import EmbeddingScorer

        return EmbeddingScorer(model, cfg.effective_batch_size, device, path)
    if kind == "sequence":
        return SupervisedScorer(model, output_index, cfg.context, cfg.effective_batch_size, device, path)
    return ModelScorer(model, cfg.effective_batch_size, device, path)
