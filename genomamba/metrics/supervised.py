"""Task metrics with scikit-learn, written as JSON/TSV with provenance, and ROC/PR plots for binary tasks.

Classification: AUROC, AUPRC (average precision), MCC, F1, accuracy; multi-class uses macro averages
(one-vs-rest for AUROC/AUPRC). Regression: Spearman, Pearson, R^2 (plus MSE, MAE). A metric that is undefined
on the given labels (e.g. AUROC with one class present) is reported as ``null`` with the reason, never as 0.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from genomamba.atomic import atomic_file
from genomamba.metrics.ranking import finite

CLASSIFICATION_METRICS = ("auroc", "auprc", "mcc", "f1", "accuracy")
REGRESSION_METRICS = ("spearman", "pearson", "r2", "mse", "mae")
METRICS_JSON = "metrics.json"  # every evaluate / probe / finetune output holds it: marks a previous output
# the metric model selection and early stopping maximise, per task kind
PRIMARY_METRIC = {"binary": "auroc", "multiclass": "mcc", "regression": "spearman"}


def classification_metrics(labels: np.ndarray, scores: np.ndarray, n_classes: int) -> dict:
    """Metrics for class indices ``labels`` (n,) and ``scores``: P(class 1) (n,) if binary, else probs (n, K)."""
    from sklearn import metrics as skm

    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    out: dict = {"n": int(labels.size)}
    notes = []
    if n_classes == 2:
        scores = scores.reshape(-1) if scores.ndim == 1 else scores[:, 1]
        pred = (scores >= 0.5).astype(np.int64)
        if np.unique(labels).size < 2:
            out["auroc"] = out["auprc"] = None
            notes.append("AUROC/AUPRC undefined: only one class present")
        else:
            out["auroc"] = finite(skm.roc_auc_score(labels, scores))
            out["auprc"] = finite(skm.average_precision_score(labels, scores))
        out["f1"] = finite(skm.f1_score(labels, pred, zero_division=0))
    else:
        pred = scores.argmax(axis=1)
        present = np.unique(labels)
        onehot = np.eye(n_classes, dtype=np.int64)[labels]
        if present.size < 2:
            out["auroc"] = out["auprc"] = None
            notes.append("AUROC/AUPRC undefined: only one class present")
        else:
            # macro over the classes present (a class absent from the labels has no ROC curve)
            cols = present
            probs = scores[:, cols] / np.clip(scores[:, cols].sum(axis=1, keepdims=True), 1e-12, None)
            if cols.size == 2:
                out["auroc"] = finite(skm.roc_auc_score(onehot[:, cols[1]], probs[:, 1]))
            else:
                out["auroc"] = finite(skm.roc_auc_score(labels, probs, multi_class="ovr", labels=cols))
            out["auprc"] = finite(skm.average_precision_score(onehot[:, cols], scores[:, cols], average="macro"))
            if cols.size < n_classes:
                notes.append(f"macro AUROC/AUPRC over the {cols.size} classes present")
        out["f1"] = finite(skm.f1_score(labels, pred, average="macro", labels=np.arange(n_classes), zero_division=0))
    out["mcc"] = finite(skm.matthews_corrcoef(labels, pred))
    out["accuracy"] = finite(skm.accuracy_score(labels, pred))
    if notes:
        out["notes"] = notes
    return out


def regression_metrics(targets: np.ndarray, preds: np.ndarray) -> dict:
    """Spearman, Pearson, R^2, MSE and MAE of predictions (n,) against targets (n,)."""
    from scipy import stats
    from sklearn import metrics as skm

    y = np.asarray(targets, dtype=np.float64).reshape(-1)
    p = np.asarray(preds, dtype=np.float64).reshape(-1)
    out: dict = {"n": int(y.size)}
    if y.size < 2 or np.ptp(y) == 0 or np.ptp(p) == 0:
        out["spearman"] = out["pearson"] = None
        out["notes"] = ["correlations undefined: constant targets or predictions"]
    else:
        out["spearman"] = finite(stats.spearmanr(y, p).statistic)
        out["pearson"] = finite(stats.pearsonr(y, p).statistic)
    out["r2"] = finite(skm.r2_score(y, p)) if y.size >= 2 else None
    out["mse"] = finite(skm.mean_squared_error(y, p))
    out["mae"] = finite(skm.mean_absolute_error(y, p))
    return out


def compute_metrics(task: str, labels: np.ndarray, scores: np.ndarray, n_classes: int = 0) -> dict:
    """Dispatch on the task kind (``binary`` | ``multiclass`` | ``regression``)."""
    if task == "regression":
        return regression_metrics(labels, scores)
    return classification_metrics(labels, scores, 2 if task == "binary" else n_classes)


def primary_value(task: str, metrics: dict) -> float:
    """The selection metric's value; undefined counts as -inf so it never wins."""
    value = metrics.get(PRIMARY_METRIC[task])
    return -math.inf if value is None else float(value)


def write_metrics(json_path: str | os.PathLike, tsv_path: str | os.PathLike | None, record: dict) -> None:
    """Write ``record`` (provenance keys + ``results``: list of {model, split, metrics}) to JSON and a tidy TSV.

    TSV columns: dataset, model, split, metric, value, checkpoint, config (one row per metric).
    """
    with atomic_file(json_path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
    if tsv_path is None:
        return
    lines = ["dataset\tmodel\tsplit\tmetric\tvalue\tcheckpoint\tconfig"]
    for res in record["results"]:
        for name, value in res["metrics"].items():
            if name == "notes":
                continue
            text = "NA" if value is None else (f"{value:.6g}" if isinstance(value, float) else str(value))
            lines.append(
                "\t".join(
                    [
                        str(record.get("dataset", "")),
                        str(res.get("model", "")),
                        str(res.get("split", "")),
                        name,
                        text,
                        str(res.get("checkpoint", record.get("checkpoint", ""))),
                        str(record.get("config", "")),
                    ]
                )
            )
    with atomic_file(tsv_path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def result_lines(record: dict) -> list[str]:
    """One line per ``results`` entry: ``<model> <split>: <metric> <value>, ...`` (defined float metrics only)."""
    return [
        f"{r['model']} {r['split']}: "
        + ", ".join(f"{k} {v:.4f}" for k, v in r["metrics"].items() if isinstance(v, float))
        for r in record["results"]
    ]


__all__ = [
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "PRIMARY_METRIC",
    "classification_metrics",
    "regression_metrics",
    "compute_metrics",
    "primary_value",
    "write_metrics",
    "result_lines",
]
