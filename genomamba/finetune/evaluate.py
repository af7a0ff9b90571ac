"""Metrics records for fine-tuned models: right after training (model and k-mer baseline on val/test), and
``genomamba evaluate`` (a predictions table + its provenance -> metrics JSON/TSV and ROC/PR plots).

A record is the provenance (dataset, task, classes, checkpoint, config) plus ``results``: one entry per
(model, split) with its metrics, as ``genomamba.metrics.supervised.write_metrics`` writes it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genomamba.columns import numeric_column
from genomamba.errors import GenomambaError
from genomamba.finetune.datasets import LabeledData, describe_source, load_labeled
from genomamba.metrics.supervised import PRIMARY_METRIC, compute_metrics

if TYPE_CHECKING:
    import polars as pl

    from genomamba.finetune.config import EvaluateConfig, FinetuneConfig
    from genomamba.finetune.predict import PredictionsInfo
    from genomamba.finetune.run import FinetuneResult


def _result(model: str, split: str, metrics: dict, checkpoint: str = "", init: str | None = None) -> dict:
    """One ``results`` entry; ``init`` says how the model started (scratch, pretrained, baseline settings)."""
    head = {"model": model} if init is None else {"model": model, "init": init}
    return {**head, "split": split, "checkpoint": checkpoint, "metrics": metrics}


def evaluate_with_baseline(
    cfg: FinetuneConfig, data: LabeledData, result: FinetuneResult, checkpoint: str = "", config: str = ""
) -> dict:
    """Metrics record for the fine-tuned model and (if ``cfg.baseline``) the k-mer baseline on val/test."""
    from genomamba.baselines.kmer_classifier import run_kmer_baseline
    from genomamba.finetune.predict import predict_tokens

    results = []
    for name in ("val", "test"):
        part = data.splits.get(name)
        if part is None or len(part) == 0:
            continue
        scores = predict_tokens(
            result.net, data.task, part.tokens, cfg.train.eval_batch_size, result.target_mean, result.target_std
        )
        metrics = compute_metrics(data.task, part.labels, scores, len(data.classes))
        results.append(_result("finetuned", name, metrics, checkpoint, init=cfg.init))
    if cfg.baseline:
        base = run_kmer_baseline(data, cfg.kmer)
        init = f"k={cfg.kmer.k_values} strength={base.strength:g}"
        results += [
            _result("kmer-baseline", n, base.metrics[n], init=init) for n in ("val", "test") if n in base.metrics
        ]
    return {
        "dataset": describe_source(cfg.data),
        "task": data.task,
        "classes": data.classes,
        "primary_metric": PRIMARY_METRIC[data.task],
        "checkpoint": checkpoint,
        "config": config,
        "init": cfg.init,
        "data_summary": data.summary(),
        "train_seconds": round(result.seconds, 2),
        "best_epoch": result.best_epoch,
        "steps": result.steps,
        "results": results,
    }


# ---------------------------------------------------------------------------------- genomamba evaluate
def read_predictions(path: str | os.PathLike) -> tuple[PredictionsInfo, pl.DataFrame]:
    """The provenance and the table (all-string columns, empty labels as null) of a ``genomamba predict`` output."""
    import polars as pl

    from genomamba.config import from_dict
    from genomamba.finetune.predict import PredictionsInfo
    from genomamba.finetune.tables import read_table

    meta_path = Path(f"{path}.json")
    if not meta_path.is_file():
        raise GenomambaError(
            f"provenance file {meta_path.name} is missing (write predictions with genomamba predict)", path
        )
    try:
        info = from_dict(PredictionsInfo, json.loads(meta_path.read_text()), path=meta_path)
    except json.JSONDecodeError as exc:
        raise GenomambaError(f"not valid JSON ({exc.msg})", meta_path) from None
    table = read_table(Path(path))
    for col in ("split", "label"):
        if col not in table.columns:
            raise GenomambaError(f"missing column {col!r}", path)
    return info, table.with_columns(pl.col("label").replace("", None))


def _truth_and_scores(info: PredictionsInfo, labeled: pl.DataFrame, path: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels (n,) -- class indices or targets -- and scores (n,) or (n, K) of the labeled rows."""

    task, classes = info.task, info.classes
    if task == "regression":
        y = numeric_column(labeled, "label", path).to_numpy()
        needed = ["pred"]
    else:
        index = {c: k for k, c in enumerate(classes)}
        bad = [v for v in labeled["label"].unique().to_list() if v not in index]
        if bad:
            raise GenomambaError(f"unknown label {bad[0]!r} (classes: {', '.join(classes)})", path)
        y = np.array([index[v] for v in labeled["label"].to_list()], dtype=np.int64)
        needed = ["score"] if task == "binary" else [f"prob_{c}" for c in classes]
    for col in needed:
        if col not in labeled.columns:
            raise GenomambaError(f"missing column {col!r} for a {task} task", path)
    scores = np.column_stack([numeric_column(labeled, col, path).to_numpy() for col in needed])
    return y, scores[:, 0] if scores.shape[1] == 1 else scores


def _baseline_results(info: PredictionsInfo, splits: list[str]) -> tuple[list[dict], dict[str, dict[str, float]]]:
    """k-mer baseline fitted on the checkpoint's training dataset (train/val), scored on the predicted rows: its
    metrics records and, for binary tasks, its score per row id of each split (for the paired comparison)."""
    from genomamba.baselines.kmer_classifier import run_kmer_baseline

    if info.data is None or info.train_data is None:
        raise GenomambaError("the provenance names no datasets: the k-mer baseline needs genomamba predict's JSON")
    base = run_kmer_baseline(load_labeled(info.train_data))
    rows_cfg = dataclasses.replace(info.data, task=info.task, classes=info.classes or None)
    rows = load_labeled(rows_cfg, default_split="test" if info.data.resplit is None else None)
    out, by_id = [], {}
    for name in splits:
        part = rows.splits.get(name)
        if part is not None and len(part):
            kmer = base.score(part.tokens)
            metrics = compute_metrics(info.task, part.labels, kmer, len(info.classes))
            out.append(_result("kmer-baseline", name, metrics))
            if info.task == "binary":
                by_id[name] = dict(zip(map(str, part.ids), np.asarray(kmer, dtype=np.float64).tolist()))
    return out, by_id


def model_vs_kmer(labeled, y: np.ndarray, scores: np.ndarray, kmer: dict[str, dict[str, float]]) -> list[dict]:
    """Per split: AUROC of the fine-tuned model and of the k-mer baseline on the same rows, and their difference,
    each with a 95 % CI from one paired bootstrap of the rows (1,000 replicates, seed 0)."""
    from genomamba.metrics.ranking import paired_auroc_ci

    out = []
    splits, ids = labeled["split"].to_numpy(), [str(i) for i in labeled["id"].to_list()]
    for name, by_id in kmer.items():
        sel = np.flatnonzero((splits == name) & np.array([i in by_id for i in ids], dtype=bool))
        if sel.size:
            other = np.array([by_id[ids[i]] for i in sel])
            r = paired_auroc_ci(y[sel], scores[sel], other, n_boot=1000, seed=0)
            out.append({"split": name, "n": r["n"], "model_auroc": r["auroc_a"], "model_ci": r["ci_a"],
                        "kmer_auroc": r["auroc_b"], "kmer_ci": r["ci_b"], "difference": r["difference"],
                        "difference_ci": r["difference_ci"], "bootstrap": r["n_boot_valid"]})  # fmt: skip
    return out


def start_model(checkpoint: str) -> str:
    """How the fine-tuned checkpoint started: from scratch, from a pretrained checkpoint, or from a bundled model."""
    try:
        cfg = json.loads((Path(checkpoint) / "config.json").read_text())["extra"]["finetune"]["config"]
    except (OSError, KeyError, TypeError, json.JSONDecodeError):
        return "unknown (no fine-tuning config in the checkpoint)"
    pretrained = cfg.get("pretrained")
    if pretrained is None:
        return f"scratch ({cfg.get('model_config')})"
    what = "scratch, same architecture as" if cfg.get("from_scratch") else "pretrained"
    if pretrained == "default" or str(pretrained).startswith("bundled:"):
        from genomamba.bundled import bundled_model

        name = str(pretrained).removeprefix("bundled:")
        try:
            made = bundled_model(name).card.get("created")
        except GenomambaError:
            made = None
        return f"{what} the bundled {name} model" + (f" (made {made})" if made else "")
    return f"{what} {pretrained}"


def evaluate_predictions(cfg: EvaluateConfig) -> dict:
    """Write OUT_DIR/metrics.json and metrics.tsv (per split; with the k-mer baseline if asked) and, for
    classification, roc.png and pr.png; returns the metrics record."""
    import polars as pl

    from genomamba.atomic import atomic_dir, check_output_dir
    from genomamba.metrics.plots import plot_curves
    from genomamba.metrics.supervised import METRICS_JSON, write_metrics

    out_dir = check_output_dir(cfg.out_dir, METRICS_JSON)  # a folder that is not ours fails before any work
    info, table = read_predictions(cfg.predictions)
    labeled = table.filter(pl.col("label").is_not_null())
    if labeled.height == 0:
        raise GenomambaError("no labeled rows: evaluate needs the label column filled", cfg.predictions)
    y, scores = _truth_and_scores(info, labeled, cfg.predictions)
    splits = labeled["split"].to_numpy()
    names = sorted(set(splits.tolist()))
    results = []
    for name in names:
        sel = splits == name
        metrics = compute_metrics(info.task, y[sel], scores[sel], len(info.classes))
        results.append(_result("finetuned", name, metrics, info.checkpoint))
    kmer_by_id: dict = {}
    if cfg.kmer_baseline:
        kmer_rows, kmer_by_id = _baseline_results(info, names)
        results += kmer_rows
    record = {
        "dataset": info.dataset,
        "task": info.task,
        "classes": info.classes,
        "checkpoint": info.checkpoint,
        "config": info.config,
        "predictions": cfg.predictions,
        "strands": info.strands,
        "start_model": start_model(info.checkpoint),
        "results": results,
    }
    if kmer_by_id:
        record["model_vs_kmer"] = model_vs_kmer(labeled, y, scores, kmer_by_id)
    with atomic_dir(out_dir, METRICS_JSON) as tmp:
        write_metrics(tmp / METRICS_JSON, tmp / "metrics.tsv", record)
        if info.task != "regression" and np.unique(y).size >= 2:
            # binary: one curve; multi-class: one-vs-rest curves per class
            title = f"{Path(info.dataset.split(';')[0]).name} ({info.split})"
            plot_curves(y, scores, tmp / "roc.png", tmp / "pr.png", title, info.classes)
    return record
