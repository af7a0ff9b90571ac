"""Metric plots (matplotlib, Agg backend, PNG written atomically): ROC curves, drawn by one function for every
caller, precision-recall curves, and score distributions.

* ``plot_curves``: ROC + precision-recall of one task's predictions (binary, or one-vs-rest per class).
* ``plot_roc_panels``: side-by-side ROC panels, several score sets per panel (variant-effect comparisons).
* ``plot_boxes``: one box plot of score groups per panel.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from genomamba.atomic import atomic_file
from genomamba.metrics.ranking import auprc, auroc

# (legend name, binary labels (n,), scores (n,)); larger score = more likely positive
Curve = tuple[str, np.ndarray, np.ndarray]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike, dpi: int | None = None) -> None:
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    _pyplot().close(fig)


def _legend(name: str, metric: str, value: float) -> str:
    return f"{name} ({metric} {value:.3f})" if name else f"{metric} {value:.3f}"


def draw_roc(ax, curves: Sequence[Curve]) -> None:
    """ROC curves with their AUROC in the legend (curves holding one class are left out) plus the chance line."""
    from sklearn.metrics import roc_curve

    for name, y, s in curves:
        if np.unique(y).size < 2:
            continue
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=_legend(name, "AUROC", auroc(y, s)))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.8, label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate")
    ax.legend(loc="lower right", fontsize=7)


def plot_curves(
    labels: np.ndarray,
    scores: np.ndarray,
    roc_path: str | os.PathLike,
    pr_path: str | os.PathLike,
    title: str,
    classes: list[str] | None = None,
) -> None:
    """ROC and precision-recall curves as PNGs.

    Binary: ``labels`` (n,) in {0, 1}, ``scores`` (n,) = P(positive), one curve each. Multi-class: ``scores`` (n, K)
    probabilities, one one-vs-rest curve per class present, named by ``classes``.
    """
    from sklearn.metrics import precision_recall_curve

    plt = _pyplot()
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        curves = [("", labels, scores)]
    else:
        names = classes or [str(k) for k in range(scores.shape[1])]
        curves = [(names[k], (labels == k).astype(int), scores[:, k]) for k in np.unique(labels)]
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    draw_roc(ax, curves)
    ax.set_title(title, fontsize=9)
    _save(fig, roc_path)
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    for name, y, s in curves:
        if np.unique(y).size < 2:
            continue
        prec, rec, _ = precision_recall_curve(y, s)
        ax.step(rec, prec, where="post", label=_legend(name, "AUPRC", auprc(y, s)))
    if scores.ndim == 1:
        base = float(np.mean(labels))
        ax.axhline(base, ls="--", color="grey", label=f"positive rate {base:.3f}")
    ax.set(xlabel="recall", ylabel="precision", ylim=(0, 1.02))
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower left", fontsize=7)
    _save(fig, pr_path)


def plot_roc_panels(panels: Sequence[tuple[str, Sequence[Curve]]], path: str | os.PathLike) -> None:
    """One ROC panel per (title, curves), side by side."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4.3), squeeze=False)
    for ax, (title, curves) in zip(axes[0], panels):
        draw_roc(ax, curves)
        ax.set_title(title, fontsize=10)
    _save(fig, path, dpi=110)


def plot_boxes(
    panels: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]], path: str | os.PathLike, ylabel: str = "score"
) -> None:
    """One box plot per (title, [(group name, values)]), stacked; empty groups are left out, 0 is marked."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 3.2 * len(panels)), squeeze=False)
    for ax, (title, groups) in zip(axes[:, 0], panels):
        groups = [(k, d) for k, d in groups if d.size]
        if groups:
            ax.boxplot([d for _, d in groups], showfliers=False)
            ticks = [f"{k}\n(n={d.size})" for k, d in groups]
            ax.set_xticks(range(1, len(groups) + 1), ticks, fontsize=7, rotation=30)
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel)
    _save(fig, path, dpi=110)
