"""k-mer count baseline for labeled sequences: logistic regression (classification) or ridge (regression).

Features: for each k in ``k_values``, the frequencies of all 4**k k-mers in the sequence (windows containing N are
skipped; ``both_strands`` adds the reverse-complement counts, for tasks whose orientation is arbitrary). Features are
standardised on the training split; the regularisation strength is chosen on the validation split by the task's
primary metric; the chosen model scores every split. The same ``LabeledData`` splits the fine-tuned model sees.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from genomamba.alphabet import reverse_complement
from genomamba.config import all_finite
from genomamba.metrics.supervised import PRIMARY_METRIC, compute_metrics, primary_value

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    from genomamba.finetune.datasets import LabeledData

log = logging.getLogger(__name__)


@dataclass
class KmerBaselineConfig:
    k_values: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6])
    both_strands: bool = False
    # grid for LogisticRegression C (classification) or Ridge alpha (regression)
    strengths: list[float] = field(default_factory=lambda: [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    max_iter: int = 2000

    def __post_init__(self) -> None:
        if not self.k_values or any(k < 1 or k > 8 for k in self.k_values):
            raise ValueError(f"k_values must be non-empty, each in 1..8, got {self.k_values}")
        if not self.strengths or not all_finite(*self.strengths) or any(s <= 0 for s in self.strengths):
            raise ValueError(f"strengths must be a non-empty list of finite numbers > 0, got {self.strengths}")
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")


def kmer_counts(tokens: list[np.ndarray], k: int) -> np.ndarray:
    """k-mer counts (n, 4**k) float32 for token arrays; a k-mer containing N (or a special token) is skipped.

    All sequences are concatenated with one N between them so one vectorised pass counts everything: a window's
    code is a base-4 integer built from k shifted copies; ``bincount(row * 4**k + code)`` fills the table.
    """
    n = len(tokens)
    lengths = np.fromiter((t.size + 1 for t in tokens), dtype=np.int64, count=n)
    flat = np.concatenate([np.append(t, np.uint8(4)) for t in tokens]) if n else np.zeros(0, np.uint8)
    rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
    m = flat.size - k + 1
    if m <= 0:
        return np.zeros((n, 4**k), dtype=np.float32)
    clean = flat < 4
    ok = np.ones(m, dtype=bool)
    code = np.zeros(m, dtype=np.int64)
    for i in range(k):
        ok &= clean[i : i + m]
        code = code * 4 + np.where(clean[i : i + m], flat[i : i + m], 0)
    table = np.bincount(rows[:m][ok] * 4**k + code[ok], minlength=n * 4**k)
    return table.reshape(n, 4**k).astype(np.float32)


def kmer_features(tokens: list[np.ndarray], cfg: KmerBaselineConfig) -> np.ndarray:
    """Concatenated per-k frequency vectors (n, sum 4**k) float32; each block sums to 1 for a clean sequence."""
    blocks = []
    rc = [reverse_complement(t).copy() for t in tokens] if cfg.both_strands else None
    for k in cfg.k_values:
        counts = kmer_counts(tokens, k)
        if rc is not None:
            counts += kmer_counts(rc, k)
        total = counts.sum(axis=1, keepdims=True)
        blocks.append(counts / np.clip(total, 1.0, None))
    return np.concatenate(blocks, axis=1)


@dataclass
class BaselineResult:
    """The fitted baseline: its regularisation strength, the scores and metrics of every split, and what
    ``score`` needs to score new sequences."""

    strength: float
    val_metrics: dict
    scores: dict[str, np.ndarray]  # split -> P(positive) (n,), class probs (n, K) or predictions (n,)
    metrics: dict[str, dict]  # split -> metrics
    task: str
    cfg: KmerBaselineConfig
    scaler: StandardScaler
    model: LogisticRegression | Ridge

    def score(self, tokens: list[np.ndarray]) -> np.ndarray:
        """Scores of the fitted baseline for new token arrays (same layout as ``scores``)."""
        return _score(self.task, self.model, self.scaler.transform(kmer_features(tokens, self.cfg)))


def _fit(task: str, strength: float, x: np.ndarray, y: np.ndarray, max_iter: int) -> LogisticRegression | Ridge:
    from sklearn.linear_model import LogisticRegression, Ridge

    if task == "regression":
        return Ridge(alpha=1.0 / strength).fit(x, y)
    return LogisticRegression(C=strength, max_iter=max_iter).fit(x, y)


def _score(task: str, model, x: np.ndarray) -> np.ndarray:
    if task == "regression":
        return model.predict(x)
    probs = model.predict_proba(x)
    return probs[:, 1] if task == "binary" else probs


def run_kmer_baseline(data: LabeledData, cfg: KmerBaselineConfig | None = None) -> BaselineResult:
    """Fit on train, choose the strength on val (primary metric), score train/val/test (those present)."""
    from sklearn.preprocessing import StandardScaler

    cfg = cfg or KmerBaselineConfig()
    train, val = data.split("train"), data.split("val")
    feats = {name: kmer_features(part.tokens, cfg) for name, part in data.splits.items() if len(part) > 0}
    scaler = StandardScaler().fit(feats["train"])
    feats = {name: scaler.transform(x) for name, x in feats.items()}
    n_classes = len(data.classes)
    best = None
    for strength in cfg.strengths:
        model = _fit(data.task, strength, feats["train"], train.labels, cfg.max_iter)
        val_metrics = compute_metrics(data.task, val.labels, _score(data.task, model, feats["val"]), n_classes)
        value = primary_value(data.task, val_metrics)
        log.info("k-mer baseline strength %g: val %s %.4f", strength, PRIMARY_METRIC[data.task], value)
        if best is None or value > best[0]:
            best = (value, strength, model, val_metrics)
    _, strength, model, val_metrics = best
    scores = {name: _score(data.task, model, x) for name, x in feats.items()}
    metrics = {name: compute_metrics(data.task, data.splits[name].labels, s, n_classes) for name, s in scores.items()}
    return BaselineResult(strength, val_metrics, scores, metrics, data.task, cfg, scaler, model)
