"""A fine-tuning run: train on ``train``, select the epoch on ``val``, and (``run_finetune``) write the checkpoint
directory ``genomamba finetune`` produces.

Output directory (written as a whole, atomically)::

    OUT/config.json, model.safetensors, tokenizer.json   the fine-tuned checkpoint (loadable by predict)
    OUT/finetune.yaml                                     the resolved FinetuneConfig
    OUT/metrics.json, OUT/metrics.tsv                     model and k-mer baseline on val/test
    OUT/logs/                                             Lightning CSV logs
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genomamba.errors import GenomambaError
from genomamba.finetune.config import FinetuneConfig
from genomamba.finetune.datasets import LabeledData, load_labeled
from genomamba.model import GenomambaForSequence
from genomamba.model.batching import length_batches, pad_batch

log = logging.getLogger(__name__)

FINETUNE_CONFIG = "finetune.yaml"  # every finetune output holds it: marks a previous output


class _Rows(torch.utils.data.Dataset):
    """(tokens uint8 (L,), target) pairs; ``_collate`` pads a list of them into a batch."""

    def __init__(self, tokens: list[np.ndarray], targets: np.ndarray):
        self.tokens, self.targets = tokens, targets

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, i: int):
        return self.tokens[i], self.targets[i]


def _collate(rows):
    tokens, targets = zip(*rows)
    return pad_batch(list(tokens)), torch.as_tensor(np.asarray(targets))


def class_weight_vector(spec, labels: np.ndarray, n_classes: int) -> torch.Tensor | None:
    """Loss weights (K,) from ``train.class_weights``: none, balanced (inverse class frequency) or explicit."""
    if spec == "none":
        return None
    if spec == "balanced":
        counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
        if np.any(counts == 0):
            raise GenomambaError("class_weights=balanced: a class has no training rows")
        return torch.tensor(counts.sum() / (n_classes * counts), dtype=torch.float32)
    if len(spec) != n_classes:
        raise GenomambaError(f"class_weights has {len(spec)} values for {n_classes} classes")
    return torch.tensor(spec, dtype=torch.float32)


@dataclass
class FinetuneResult:
    """The best network (eval mode) and how it was reached."""

    net: GenomambaForSequence
    history: list[dict]  # one entry per validation: epoch, step and the metrics
    best_epoch: int
    target_mean: float  # regression target scaling (0 / 1 for classification)
    target_std: float
    seconds: float
    steps: int


def _training_rows(cfg: FinetuneConfig, data: LabeledData) -> tuple[list[np.ndarray], np.ndarray]:
    train = data.split("train")
    tokens, targets = train.tokens, train.labels
    limit = cfg.train.max_train_samples
    if limit is not None and limit < len(tokens):
        keep = np.sort(np.random.default_rng(cfg.train.seed).permutation(len(tokens))[:limit])
        tokens, targets = [tokens[i] for i in keep], targets[keep]
        log.info("training on a seeded subset of %d / %d rows", len(keep), len(train))
    return tokens, targets


def _target_scaling(task: str, targets: np.ndarray) -> tuple[float, float]:
    if task != "regression":
        return 0.0, 1.0
    std = float(np.std(targets))
    return float(np.mean(targets)), std if std > 0 else 1.0


def _trainer(cfg: FinetuneConfig, callbacks: list, log_dir: str | None):
    import lightning.pytorch as pl

    max_time = None if cfg.train.max_time_minutes is None else {"minutes": cfg.train.max_time_minutes}
    return pl.Trainer(
        max_epochs=cfg.train.max_epochs,
        max_steps=cfg.train.max_steps if cfg.train.max_steps is not None else -1,
        max_time=max_time,
        accelerator="auto",
        devices=1,
        gradient_clip_val=cfg.optim.grad_clip or None,
        callbacks=callbacks,
        logger=pl.loggers.CSVLogger(log_dir, name="", version="") if log_dir else False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=10,
        deterministic=False,
    )


def finetune(cfg: FinetuneConfig, data: LabeledData, log_dir: str | None = None) -> FinetuneResult:
    """Train the network on ``data.splits['train']``, select on ``val``; return the best weights (eval mode)."""
    import lightning.pytorch as pl

    from genomamba.finetune.module import FinetuneModule, KeepBest, build_network

    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    pl.seed_everything(cfg.train.seed, workers=True, verbose=False)
    val = data.split("val")
    tokens, targets = _training_rows(cfg, data)
    n_classes = len(data.classes)
    weights = None if data.task == "regression" else class_weight_vector(cfg.train.class_weights, targets, n_classes)
    mean, std = _target_scaling(data.task, targets)
    total = math.ceil(len(tokens) / cfg.train.batch_size) * cfg.train.max_epochs
    if cfg.train.max_steps is not None:
        total = min(total, cfg.train.max_steps)
    net = build_network(cfg, data)
    module = FinetuneModule(net, data.task, n_classes, cfg, weights, mean, std, total_steps=total)
    gen = torch.Generator().manual_seed(cfg.train.seed)
    train_loader = torch.utils.data.DataLoader(
        _Rows(tokens, targets), batch_size=cfg.train.batch_size, shuffle=True, collate_fn=_collate, generator=gen
    )
    batches = length_batches(val.tokens, cfg.train.eval_batch_size)
    val_loader = torch.utils.data.DataLoader(_Rows(val.tokens, val.labels), batch_sampler=batches, collate_fn=_collate)
    keep = KeepBest(cfg.train.patience)
    trainer = _trainer(cfg, [keep], log_dir)
    t0 = time.perf_counter()
    trainer.fit(module, train_loader, val_loader)
    seconds = time.perf_counter() - t0
    if keep.best_state is None:
        raise GenomambaError("training ended before the first validation (raise max_steps or max_time_minutes)")
    net.load_state_dict(keep.best_state)
    net.head_config.strands = cfg.head.eval_strands
    net.eval()
    return FinetuneResult(net, module.history, keep.best_epoch, mean, std, seconds, trainer.global_step)


def run_finetune(cfg: FinetuneConfig, out: str | os.PathLike, config_path: str | None = None) -> dict:
    """``genomamba finetune``: load the dataset, train, and write OUT (see the module docstring) as a whole.
    Returns the metrics record (model and baseline on val/test) with the run's ``best_epoch`` and timing."""
    import yaml

    from genomamba.atomic import atomic_dir, check_output_dir
    from genomamba.config import to_dict
    from genomamba.finetune.checkpoint import checkpoint_extra, save_into
    from genomamba.finetune.evaluate import evaluate_with_baseline
    from genomamba.metrics.supervised import METRICS_JSON, write_metrics

    out = check_output_dir(out, FINETUNE_CONFIG)  # a folder that is not ours fails before the data loads
    data = load_labeled(cfg.data)
    data.split("train"), data.split("val")  # fail fast on empty splits, before any training
    with atomic_dir(out, FINETUNE_CONFIG) as tmp:
        result = finetune(cfg, data, log_dir=str(tmp / "logs"))
        save_into(result.net, Path(tmp), checkpoint_extra(cfg, data, result, config_path))
        (tmp / FINETUNE_CONFIG).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        record = evaluate_with_baseline(cfg, data, result, checkpoint=str(out), config=config_path or "")
        write_metrics(tmp / METRICS_JSON, tmp / "metrics.tsv", record)
    return record
