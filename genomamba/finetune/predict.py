"""Scores of a fine-tuned network, and ``genomamba predict``: a predictions table plus its provenance JSON.

Table columns: ``id, split, label`` (null when absent), then ``score`` = P(positive) and ``pred`` for binary tasks,
``prob_<class>`` per class and ``pred`` (the arg-max class) for multi-class, or ``pred`` for regression. The
provenance (checkpoint, dataset, split, task, classes, config) goes to ``<out>.json``; ``genomamba evaluate`` reads
both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genomamba.atomic import atomic_file, check_output_path
from genomamba.config import to_dict
from genomamba.errors import GenomambaError
from genomamba.finetune.config import DataConfig, PredictConfig
from genomamba.finetune.datasets import LabeledData, Split, describe_source, load_labeled
from genomamba.model.batching import length_batches, pad_batch


def outputs_to_scores(task: str, out: torch.Tensor, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    """Raw outputs (n, n_outputs) -> P(positive) (n,), class probabilities (n, K) or predictions (n,)."""
    out = out.float()
    if task == "binary":
        return torch.sigmoid(out[:, 0]).numpy()
    if task == "multiclass":
        return torch.softmax(out, dim=1).numpy()
    return (out[:, 0] * std + mean).numpy()


@torch.no_grad()
def predict_tokens(
    net, task: str, tokens: list[np.ndarray], batch_size: int = 64, target_mean: float = 0.0, target_std: float = 1.0
) -> np.ndarray:
    """Scores for each token array in input order: P(positive) (n,), class probabilities (n, K) or values (n,)."""
    net.eval()
    device = next(net.parameters()).device
    outs: list[torch.Tensor | None] = [None] * len(tokens)
    for idx in length_batches(tokens, batch_size):
        out = net(pad_batch([tokens[i] for i in idx]).to(device)).float().cpu()
        for j, i in enumerate(idx):
            outs[i] = out[j]
    if not outs:
        return np.zeros((0,), dtype=np.float32)
    return outputs_to_scores(task, torch.stack(outs), target_mean, target_std)


@dataclass
class PredictionsInfo:
    """The provenance written beside a predictions table (``<out>.json``) and read back by ``evaluate``."""

    checkpoint: str
    dataset: str  # describe_source of the scored rows
    split: str
    task: str
    classes: list[str]
    data: DataConfig | None = None  # settings of the scored rows
    train_data: DataConfig | None = None  # the checkpoint's training dataset (for the k-mer baseline)
    strands: str | None = None
    config: str = ""  # the fine-tuning config file, if any
    rows: int = 0


def _score_columns(data: LabeledData, part: Split, scores: np.ndarray) -> dict:
    """``label`` and score columns of one split (see the module docstring)."""
    if data.task == "regression":
        return {"label": [None if v != v else float(v) for v in part.labels], "pred": scores.astype(float)}
    cols: dict = {"label": [data.classes[k] if k >= 0 else None for k in part.labels]}
    if data.task == "binary":
        cols["score"] = scores.astype(float)
        cols["pred"] = [data.classes[int(s >= 0.5)] for s in scores]
    else:
        for k, c in enumerate(data.classes):
            cols[f"prob_{c}"] = scores[:, k].astype(float)
        cols["pred"] = [data.classes[k] for k in scores.argmax(axis=1)]
    return cols


def predictions_table(net, data: LabeledData, splits: tuple[str, ...], batch_size: int, mean: float, std: float):
    """One polars row per sequence of ``splits`` (empty splits skipped), in split then input order."""
    import polars as pl

    frames = []
    for name in splits:
        part = data.splits[name]
        if len(part) == 0:
            continue
        scores = predict_tokens(net, data.task, part.tokens, batch_size, mean, std)
        cols = {"id": part.ids, "split": [name] * len(part), **_score_columns(data, part, scores)}
        label_type = pl.Float64 if data.task == "regression" else pl.Utf8
        frames.append(pl.DataFrame(cols, schema_overrides={"label": label_type}))
    if not frames:
        raise GenomambaError("no rows to score in any split", data.source)
    return pl.concat(frames)


def check_predictions_outputs(out: str) -> Path:
    """Check the table path and its ``<out>.json`` provenance before any work (neither may be a directory, and
    their folder must be writable), so a bad --out costs no inference; returns the JSON's path."""
    check_output_path(out)
    return check_output_path(f"{out}.json")


def predict(cfg: PredictConfig) -> dict:
    """Score ``cfg.split`` of the checkpoint's dataset (or ``cfg.input``) and write the table and ``<out>.json``.
    Returns {out, rows, task, split}."""
    from genomamba.finetune.checkpoint import load_finetuned
    from genomamba.finetune.tables import table_format, write_table

    table_format(cfg.out)  # an unknown extension fails before the model loads
    sidecar = check_predictions_outputs(cfg.out)  # so do a directory in the way and an unwritable folder
    net, meta = load_finetuned(cfg.checkpoint, backend=cfg.backend, device=cfg.device)
    data_cfg = cfg.data_config(meta.data, meta.task, meta.classes)
    has_input = cfg.input is not None
    data = load_labeled(data_cfg, require_labels=not has_input, default_split="test" if has_input else None)
    if cfg.strands:
        net.head_config.strands = cfg.strands
    if cfg.split != "all":
        data.split(cfg.split)  # an empty split is an error
    names = ("train", "val", "test") if cfg.split == "all" else (cfg.split,)
    table = predictions_table(net, data, names, cfg.batch_size, meta.target_mean, meta.target_std)
    info = PredictionsInfo(
        checkpoint=cfg.checkpoint,
        dataset=describe_source(data_cfg),
        data=data_cfg,
        train_data=meta.data,
        split=cfg.split,
        task=data.task,
        classes=data.classes,
        strands=net.head_config.strands,
        config=meta.config_path or "",
        rows=table.height,
    )
    with atomic_file(sidecar) as tmp:
        # The provenance is complete in its temporary before the table is written, and goes in right after the
        # table: an error while writing the table leaves the previous table and JSON as they were, and evaluate
        # never reads a new table beside an old JSON (whose classes and task would then be wrong). Removing the old
        # JSON first would instead lose the previous pair's provenance whenever the table write fails.
        tmp.write_text(json.dumps(to_dict(info), indent=2) + "\n")
        write_table(table, cfg.out)
    return {"out": cfg.out, "rows": table.height, "task": data.task, "split": cfg.split}
