"""Ranking metrics of binary labels against scores, fast enough to bootstrap: AUROC, AUPRC (average precision)
and chromosome-stratified bootstrap confidence intervals.

Both metrics equal scikit-learn's (``roc_auc_score``, ``average_precision_score``), ties included, but run in one
sort each without input validation, because a bootstrap calls them thousands of times.
"""

from __future__ import annotations

import math

import numpy as np


def finite(x: float | None, digits: int | None = None) -> float | None:
    """``x`` as a JSON-safe float: None for None, NaN or inf; rounded to ``digits`` when given."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return round(x, digits) if digits is not None else x


def auroc(y: np.ndarray, s: np.ndarray) -> float:
    """Mann-Whitney AUROC of scores ``s`` (n,) for binary labels ``y`` (n,), ties counted half; NaN if one class."""
    from scipy.stats import rankdata

    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auprc(y: np.ndarray, s: np.ndarray) -> float:
    """Average precision, sum_n (R_n - R_{n-1}) P_n over distinct score thresholds; NaN if one class."""
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), y.size - 1]  # last index of each distinct score
    tps = np.cumsum(y_sorted)[last]
    precision = tps / (last + 1)
    recall = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def bootstrap_ci(
    y: np.ndarray, s: np.ndarray, chrom: np.ndarray, n_boot: int, seed: int, level: float = 0.95
) -> dict[str, list[float] | None]:
    """Percentile CIs of AUROC and AUPRC over ``n_boot`` replicates that resample items with replacement within
    each chromosome (so every replicate keeps each chromosome's share). Replicates holding one class are dropped;
    fewer than 10 valid replicates give no CI."""
    rng = np.random.default_rng(seed)
    strata = [np.flatnonzero(chrom == c) for c in np.unique(chrom)]
    aurocs, auprcs = [], []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(ix, size=ix.size, replace=True) for ix in strata])
        yb, sb = y[idx], s[idx]
        if 0 < yb.sum() < yb.size:
            aurocs.append(auroc(yb, sb))
            auprcs.append(auprc(yb, sb))
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100

    def ci(v):
        return [float(np.percentile(v, lo)), float(np.percentile(v, hi))] if len(v) >= 10 else None

    return {"auroc_ci": ci(aurocs), "auprc_ci": ci(auprcs), "n_boot_valid": len(aurocs)}


def paired_auroc_ci(
    y: np.ndarray, s_a: np.ndarray, s_b: np.ndarray, n_boot: int, seed: int, level: float = 0.95
) -> dict:
    """AUROC of scores ``s_a`` and ``s_b`` (n,) on the same items, their difference a - b, and percentile CIs of
    all three from one bootstrap of the items (paired: both scores are resampled together). Higher = positive."""
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_boot):
        idx = rng.integers(0, y.size, y.size)
        if 0 < y[idx].sum() < y.size:
            reps.append((auroc(y[idx], s_a[idx]), auroc(y[idx], s_b[idx])))
    a, b = auroc(y, s_a), auroc(y, s_b)
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    arr = np.array(reps).reshape(-1, 2)

    def ci(v):
        return [finite(np.percentile(v, lo), 6), finite(np.percentile(v, hi), 6)] if len(v) >= 10 else None

    return {
        "n": int(y.size),
        "auroc_a": finite(a, 6),
        "ci_a": ci(arr[:, 0]),
        "auroc_b": finite(b, 6),
        "ci_b": ci(arr[:, 1]),
        "difference": finite(a - b, 6),
        "difference_ci": ci(arr[:, 0] - arr[:, 1]),
        "n_boot_valid": len(reps),
    }
