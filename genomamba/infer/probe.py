"""Frozen-embedding probe: the published protocol for comparing DNA language models on labelled sequences.

Pooled embeddings (``infer.features``; mean over the sequence by default, both strands averaged) of every row feed
a standardised logistic regression (binary / multi-class) or ridge regression. Its strength is chosen by k-fold
cross-validation on ``cv_splits`` (train and val by default: cross-validation takes the place of a held-out
validation split) with the task's primary metric (AUROC, MCC, Spearman); the refitted probe is evaluated on the
test split. The record has the layout ``genomamba evaluate`` writes (``metrics.write_metrics``), with the k-mer
baseline on the same splits beside it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from genomamba.errors import GenomambaError
from genomamba.infer.config import ProbeConfig
from genomamba.metrics.supervised import PRIMARY_METRIC, compute_metrics

log = logging.getLogger(__name__)


def embed_tokens(model, tokens: list[np.ndarray], cfg: ProbeConfig, device: str) -> np.ndarray:
    """Pooled features (n, C) float32 of token arrays, in input order."""
    import torch

    from genomamba.infer.features import feature_width, pooled_features
    from genomamba.model.batching import length_batches, pad_batch

    out = np.empty((len(tokens), feature_width(model, cfg.strands)), dtype=np.float32)
    with torch.inference_mode():
        for idx in length_batches(tokens, cfg.batch_size):
            ids = pad_batch([tokens[i] for i in idx]).to(device)
            out[idx] = pooled_features(model, ids, cfg.layer, cfg.strands, cfg.pooling).float().cpu().numpy()
    return out


def _scorer(task: str):
    from scipy import stats
    from sklearn.metrics import make_scorer, matthews_corrcoef

    if task == "binary":
        return "roc_auc"
    if task == "multiclass":
        return make_scorer(matthews_corrcoef)
    return make_scorer(lambda y, p: stats.spearmanr(y, p).statistic)


def fit_probe(task: str, x: np.ndarray, y: np.ndarray, cfg: ProbeConfig):
    """Grid search over ``cfg.strengths`` by k-fold CV -> (refitted estimator, chosen strength, best CV value)."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if task == "regression":
        fit, grid = Ridge(), {"fit__alpha": [1.0 / s for s in cfg.strengths]}
        folds = KFold(min(cfg.folds, len(y)), shuffle=True, random_state=cfg.seed)
    else:
        fit, grid = LogisticRegression(max_iter=cfg.max_iter), {"fit__C": list(cfg.strengths)}
        counts = np.bincount(y)
        smallest = int(counts[counts > 0].min())
        k = min(cfg.folds, smallest)
        if k < 2:
            raise GenomambaError(f"a class has {smallest} row(s) in the probe's training rows; need >= 2 per class")
        if k < cfg.folds:
            log.warning("probe: %d-fold CV (the rarest class has only %d rows)", k, k)
        folds = StratifiedKFold(k, shuffle=True, random_state=cfg.seed)
    search = GridSearchCV(Pipeline([("scale", StandardScaler()), ("fit", fit)]), grid, scoring=_scorer(task), cv=folds)
    search.fit(x, y)
    (value,) = search.best_params_.values()
    strength = 1.0 / value if task == "regression" else value
    return search.best_estimator_, float(strength), float(search.best_score_)


def probe_scores(task: str, estimator, x: np.ndarray) -> np.ndarray:
    """P(positive) (n,), class probabilities (n, K) or predictions (n,): the layout ``compute_metrics`` reads."""
    if task == "regression":
        return estimator.predict(x)
    probs = estimator.predict_proba(x)
    return probs[:, 1] if task == "binary" else probs


def run_probe(data, checkpoint: str | Path, cfg: ProbeConfig, backend: str | None = None, dataset: str = "") -> dict:
    """Embed ``data`` (``finetune.datasets.LabeledData``), fit and evaluate the probe -> a metrics record."""
    from genomamba.model import load_for_inference

    test = data.split("test")
    pool = [data.split(name) for name in cfg.cv_splits]
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    net, device = load_for_inference(checkpoint, cfg.device, backend)
    model = getattr(net, "model", net)
    t0 = time.perf_counter()
    x_fit = embed_tokens(model, [t for part in pool for t in part.tokens], cfg, device)
    x_test = embed_tokens(model, test.tokens, cfg, device)
    seconds = time.perf_counter() - t0
    y_fit = np.concatenate([part.labels for part in pool])
    estimator, strength, cv_value = fit_probe(data.task, x_fit, y_fit, cfg)
    metrics = compute_metrics(data.task, test.labels, probe_scores(data.task, estimator, x_test), len(data.classes))
    results = [{"model": "probe", "split": "test", "checkpoint": str(checkpoint), "metrics": metrics}]
    if cfg.kmer_baseline:
        results.append(_kmer_result(data))
    log.info("probe: strength %g, CV %s %.4f; test %s", strength, PRIMARY_METRIC[data.task], cv_value, metrics)
    return {
        "dataset": dataset or data.source,
        "task": data.task,
        "classes": data.classes,
        "checkpoint": str(checkpoint),
        "config": "",
        "probe": {
            **asdict(cfg),
            "device": device,
            "width": int(x_fit.shape[1]),
            "fit_rows": int(x_fit.shape[0]),
            "test_rows": int(x_test.shape[0]),
            "strength": strength,
            "cv_metric": PRIMARY_METRIC[data.task],
            "cv_value": cv_value,
            "embed_seconds": round(seconds, 2),
        },
        "results": results,
    }


def _kmer_result(data) -> dict:
    """The k-mer baseline (fit on train, strength chosen on val) on the same test rows."""
    from genomamba.baselines.kmer_classifier import run_kmer_baseline

    base = run_kmer_baseline(data)
    return {"model": "kmer-baseline", "split": "test", "checkpoint": "", "metrics": base.metrics["test"]}
