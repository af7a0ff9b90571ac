"""Fine-tuning on labeled sequences: config, padding-correct batching, the LightningModule, the run, prediction.

A batch is ``input_ids`` (B, L_max) right-padded with [PAD]; the model turns every [PAD] run into its own
``seq_idx`` segment (``genomamba.model.segments.with_padding_boundaries``), so the scans and convolutions of a real
sequence never see padding, and pooling averages real bases only: a sequence's prediction does not depend on the
batch it is in (tested). Training uses the forward strand with random reverse-complement augmentation by default
(``head.train_strands``); validation and prediction average the features of both strands (``head.eval_strands``).

Model selection: the validation split is scored with scikit-learn after every epoch (AUROC for binary, MCC for
multi-class, Spearman for regression, ``genomamba.metrics.supervised.PRIMARY_METRIC``); the best weights are kept and
training stops after ``train.patience`` epochs without improvement.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from genomamba.backends import Backend
from genomamba.baselines.kmer_classifier import KmerBaselineConfig
from genomamba.config import load_config, to_dict
from genomamba.errors import GenomambaError
from genomamba.finetune.datasets import DataConfig, LabeledData, describe_source
from genomamba.metrics.supervised import PRIMARY_METRIC, compute_metrics, primary_value
from genomamba.model.batching import length_batches, pad_batch

log = logging.getLogger(__name__)


@dataclass
class HeadOptions:
    """The ``head:`` section: how sequence features become one prediction."""

    pooling: Literal["mean", "center"] = "mean"
    train_strands: Literal["forward", "both"] = "forward"  # "forward" + rc_augment is half the cost of "both"
    eval_strands: Literal["forward", "both"] = "both"  # both-strand averaging at validation / prediction
    rc_augment: bool = True  # reverse-complement half of each training batch (forward training only)
    dropout: float = 0.1


@dataclass
class FinetuneOptim:
    """The ``optim:`` section. ``backbone_lr`` None: same as ``lr``; ``freeze_backbone`` trains the head only."""

    lr: float = 1e-3
    backbone_lr: float | None = None
    freeze_backbone: bool = False
    weight_decay: float = 0.01
    warmup_steps: int = 50
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        if self.lr <= 0 or (self.backbone_lr is not None and self.backbone_lr <= 0):
            raise ValueError("learning rates must be > 0")
        if self.weight_decay < 0 or self.warmup_steps < 0 or self.grad_clip < 0:
            raise ValueError("need weight_decay >= 0, warmup_steps >= 0, grad_clip >= 0")


@dataclass
class FinetuneTrain:
    """The ``train:`` section."""

    batch_size: int = 32
    eval_batch_size: int = 64
    max_epochs: int = 10
    max_steps: int | None = None  # stop after this many optimizer steps (validation runs at the end)
    max_train_samples: int | None = None  # use a seeded subset of the training split (fast runs)
    patience: int = 3  # epochs without a better validation metric before stopping
    max_time_minutes: float | None = None
    class_weights: Literal["none", "balanced"] | list[float] = "none"
    threads: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.eval_batch_size < 1 or self.max_epochs < 1 or self.patience < 1:
            raise ValueError("batch sizes, max_epochs and patience must be >= 1")


@dataclass
class FinetuneConfig:
    """Everything ``genomamba finetune`` needs. Initialise from ``pretrained`` (a checkpoint directory) or from
    scratch with ``model_config`` (+ ``model`` overrides); ``from_scratch: true`` with ``pretrained`` uses the
    checkpoint's architecture with fresh weights (the like-for-like comparison)."""

    data: DataConfig = field(default_factory=DataConfig)
    pretrained: str | None = None
    from_scratch: bool = False
    model_config: str = "tiny"  # a name under configs/model/ or a ModelConfig YAML (used without pretrained)
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields on top of model_config
    backend: Backend | None = None  # override the scan backend
    head: HeadOptions = field(default_factory=HeadOptions)
    optim: FinetuneOptim = field(default_factory=FinetuneOptim)
    train: FinetuneTrain = field(default_factory=FinetuneTrain)
    baseline: bool = True  # fit the k-mer baseline on the same splits and report it beside the model
    kmer: KmerBaselineConfig = field(default_factory=KmerBaselineConfig)


def load_finetune_config(path=None, overrides: list[str] = ()) -> FinetuneConfig:
    return load_config(FinetuneConfig, path, overrides)


# -------------------------------------------------------------------------------------------------- batching


class _Rows(torch.utils.data.Dataset):
    def __init__(self, tokens: list[np.ndarray], targets: np.ndarray):
        self.tokens, self.targets = tokens, targets

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, i: int):
        return self.tokens[i], self.targets[i]


def _collate(rows):
    tokens, targets = zip(*rows)
    return pad_batch(list(tokens)), torch.as_tensor(np.asarray(targets))


# ----------------------------------------------------------------------------------------------- the network


def build_network(cfg: FinetuneConfig, data: LabeledData):
    """``GenomambaForSequence`` for the task: pretrained backbone (or fresh, same or configured architecture)."""
    from genomamba.model import GenomambaForSequence, GenomambaModel, HeadConfig, ModelConfig

    head = HeadConfig(
        kind="sequence",
        n_outputs=data.n_outputs,
        task="regression" if data.task == "regression" else "classification",
        pooling=cfg.head.pooling,
        strands=cfg.head.train_strands,
        dropout=cfg.head.dropout,
        labels=list(data.classes) if data.task == "multiclass" else [],
    )
    if cfg.pretrained is not None:
        if cfg.model:
            raise GenomambaError("give either pretrained or model overrides, not both (the checkpoint fixes the model)")
        backbone = GenomambaModel.from_pretrained(cfg.pretrained, backend=cfg.backend)
        if cfg.from_scratch:
            backbone = GenomambaModel(backbone.config)
    else:
        log.info("no pretrained checkpoint: training from scratch (model_config %s)", cfg.model_config)
        fields = dict(cfg.model)
        if cfg.backend is not None:
            fields["backend"] = cfg.backend
        backbone = GenomambaModel(ModelConfig.from_preset(cfg.model_config, fields))
    return GenomambaForSequence(backbone, head).train()  # from_pretrained returns eval mode


# -------------------------------------------------------------------------------------------------- the module


def _lightning():
    import lightning.pytorch as pl

    return pl


class FinetuneModule(_lightning().LightningModule):
    """Loss, RC augmentation, optimizer groups (backbone / head LR, frozen backbone) and validation metrics."""

    def __init__(
        self,
        net,
        task: str,
        n_classes: int,
        cfg: FinetuneConfig,
        class_weights: torch.Tensor | None,
        target_mean: float = 0.0,
        target_std: float = 1.0,
        total_steps: int = 1000,
    ):
        super().__init__()
        self.net, self.task, self.n_classes, self.cfg = net, task, n_classes, cfg
        self.register_buffer("class_weights", class_weights if class_weights is not None else torch.ones(0))
        self.target_mean, self.target_std, self.total_steps = target_mean, target_std, total_steps
        self._val_out: list[torch.Tensor] = []
        self._val_y: list[torch.Tensor] = []
        self.history: list[dict] = []
        if cfg.optim.freeze_backbone:
            for p in self.net.model.parameters():
                p.requires_grad_(False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, L) -> raw outputs (B, n_outputs): logits, or standardised regression values."""
        return self.net(input_ids)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.task == "binary":
            pos_weight = None
            if self.class_weights.numel():
                pos_weight = self.class_weights[1] / self.class_weights[0]
            return F.binary_cross_entropy_with_logits(out[:, 0], y.float(), pos_weight=pos_weight)
        if self.task == "multiclass":
            return F.cross_entropy(out, y.long(), weight=self.class_weights if self.class_weights.numel() else None)
        return F.mse_loss(out[:, 0], (y.float() - self.target_mean) / self.target_std)

    def training_step(self, batch, batch_idx):
        ids, y = batch
        if self.cfg.head.rc_augment and self.net.head_config.strands == "forward":
            from genomamba.model import rc_ids

            flip = torch.rand(ids.shape[0], device=ids.device) < 0.5
            if bool(flip.any()):
                ids = ids.clone()
                ids[flip] = rc_ids(ids[flip], self.net.model.complement)
        loss = self.loss(self(ids), y)
        self.log("train_loss", loss, prog_bar=True, batch_size=ids.shape[0])
        return loss

    def on_train_epoch_start(self) -> None:
        self.net.head_config.strands = self.cfg.head.train_strands

    def on_validation_epoch_start(self) -> None:
        self.net.head_config.strands = self.cfg.head.eval_strands
        self._val_out, self._val_y = [], []

    def validation_step(self, batch, batch_idx):
        ids, y = batch
        self._val_out.append(self(ids).detach().float().cpu())
        self._val_y.append(y.cpu())

    def on_validation_epoch_end(self) -> None:
        self.net.head_config.strands = self.cfg.head.train_strands
        if not self._val_out or self.trainer.sanity_checking:
            return
        out = torch.cat(self._val_out)
        y = torch.cat(self._val_y).numpy()
        metrics = compute_metrics(
            self.task, y, outputs_to_scores(self.task, out, self.target_mean, self.target_std), self.n_classes
        )
        value = primary_value(self.task, metrics)
        self.log("val_metric", value if math.isfinite(value) else -1.0, prog_bar=True)
        self.history.append({"epoch": self.current_epoch, "step": self.global_step, **metrics})
        log.info(
            "epoch %d step %d: val %s %.4f", self.current_epoch, self.global_step, PRIMARY_METRIC[self.task], value
        )

    def configure_optimizers(self):
        from genomamba.optim import param_groups, warmup_cosine

        o = self.cfg.optim
        groups = []
        for part, lr in ((self.net.head, o.lr), (self.net.model, o.backbone_lr or o.lr)):
            for g in param_groups(part, o.weight_decay):
                if g["params"]:
                    groups.append({**g, "lr": lr})
        opt = torch.optim.AdamW(groups, lr=o.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: warmup_cosine(s, o.warmup_steps, self.total_steps, 0.1)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def outputs_to_scores(task: str, out: torch.Tensor, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    """Raw outputs (n, n_outputs) -> P(positive) (n,), class probabilities (n, K) or predictions (n,)."""
    out = out.float()
    if task == "binary":
        return torch.sigmoid(out[:, 0]).numpy()
    if task == "multiclass":
        return torch.softmax(out, dim=1).numpy()
    return (out[:, 0] * std + mean).numpy()


class _KeepBest(_lightning().Callback):
    """Keep the weights of the best validation epoch in memory (tiny models) and stop after ``patience``."""

    def __init__(self, patience: int):
        self.patience, self.best, self.best_state, self.best_epoch, self.bad = patience, -math.inf, None, -1, 0

    def on_validation_end(self, trainer, module) -> None:
        if trainer.sanity_checking or not module.history or module.history[-1]["epoch"] != trainer.current_epoch:
            return
        value = primary_value(module.task, module.history[-1])
        if value > self.best:
            self.best, self.best_epoch, self.bad = value, trainer.current_epoch, 0
            self.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in module.net.state_dict().items()})
        else:
            self.bad += 1
            if self.bad >= self.patience:
                log.info("early stopping: no better validation metric for %d epochs", self.patience)
                trainer.should_stop = True


# ------------------------------------------------------------------------------------------------- running


def class_weight_vector(spec, labels: np.ndarray, n_classes: int) -> torch.Tensor | None:
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
    net: Any
    history: list[dict]
    best_epoch: int
    target_mean: float
    target_std: float
    seconds: float
    steps: int


def finetune(cfg: FinetuneConfig, data: LabeledData, log_dir: str | None = None) -> FinetuneResult:
    """Train the network on ``data.splits['train']``, select on ``val``; return the best weights (eval mode)."""
    pl = _lightning()
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    pl.seed_everything(cfg.train.seed, workers=True, verbose=False)
    train, val = data.split("train"), data.split("val")
    tokens, targets = train.tokens, train.labels
    if cfg.train.max_train_samples is not None and cfg.train.max_train_samples < len(tokens):
        keep = np.sort(np.random.default_rng(cfg.train.seed).permutation(len(tokens))[: cfg.train.max_train_samples])
        tokens, targets = [tokens[i] for i in keep], targets[keep]
        log.info("training on a seeded subset of %d / %d rows", len(keep), len(train))
    n_classes = len(data.classes)
    weights = None if data.task == "regression" else class_weight_vector(cfg.train.class_weights, targets, n_classes)
    mean = float(np.mean(targets)) if data.task == "regression" else 0.0
    std = float(np.std(targets)) if data.task == "regression" else 1.0
    std = std if std > 0 else 1.0
    steps_per_epoch = math.ceil(len(tokens) / cfg.train.batch_size)
    total = steps_per_epoch * cfg.train.max_epochs
    if cfg.train.max_steps is not None:
        total = min(total, cfg.train.max_steps)
    net = build_network(cfg, data)
    module = FinetuneModule(net, data.task, n_classes, cfg, weights, mean, std, total_steps=total)
    gen = torch.Generator().manual_seed(cfg.train.seed)
    train_loader = torch.utils.data.DataLoader(
        _Rows(tokens, targets), batch_size=cfg.train.batch_size, shuffle=True, collate_fn=_collate, generator=gen
    )
    val_loader = torch.utils.data.DataLoader(
        _Rows(val.tokens, val.labels),
        batch_sampler=length_batches(val.tokens, cfg.train.eval_batch_size),
        collate_fn=_collate,
    )
    keep = _KeepBest(cfg.train.patience)
    max_time = None if cfg.train.max_time_minutes is None else {"minutes": cfg.train.max_time_minutes}
    trainer = pl.Trainer(
        max_epochs=cfg.train.max_epochs,
        max_steps=cfg.train.max_steps if cfg.train.max_steps is not None else -1,
        max_time=max_time,
        accelerator="auto",
        devices=1,
        gradient_clip_val=cfg.optim.grad_clip or None,
        callbacks=[keep],
        logger=pl.loggers.CSVLogger(log_dir, name="", version="") if log_dir else False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=10,
        deterministic=False,
    )
    t0 = time.perf_counter()
    trainer.fit(module, train_loader, val_loader)
    seconds = time.perf_counter() - t0
    if keep.best_state is None:
        raise GenomambaError("training ended before the first validation (raise max_steps or max_time_minutes)")
    net.load_state_dict(keep.best_state)
    net.head_config.strands = cfg.head.eval_strands
    net.eval()
    return FinetuneResult(net, module.history, keep.best_epoch, mean, std, seconds, trainer.global_step)


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


def checkpoint_extra(cfg: FinetuneConfig, data: LabeledData, result: FinetuneResult, config_path: str | None) -> dict:
    """Metadata stored in the fine-tuned checkpoint: what ``predict`` / ``evaluate`` need to reproduce the setup."""
    return {
        "finetune": {
            "task": data.task,
            "classes": data.classes,
            "target_mean": result.target_mean,
            "target_std": result.target_std,
            "config": to_dict(cfg),
            "config_path": config_path,
            "dataset": describe_source(cfg.data),
            "data_summary": data.summary(),
            "best_epoch": result.best_epoch,
            "steps": result.steps,
            "train_seconds": round(result.seconds, 2),
            "history": result.history,
        }
    }


def read_finetune_meta(net, path) -> dict:
    meta = getattr(net, "extra", {}).get("finetune")
    if not isinstance(meta, dict) or "task" not in meta:
        raise GenomambaError("not a fine-tuned checkpoint (no finetune metadata; run genomamba finetune)", path)
    return meta


def evaluate_with_baseline(
    cfg: FinetuneConfig, data: LabeledData, result: FinetuneResult, checkpoint: str = "", config: str = ""
) -> dict:
    """Metrics record for the fine-tuned model and (if ``cfg.baseline``) the k-mer baseline on val/test."""
    from genomamba.baselines.kmer_classifier import run_kmer_baseline

    n_classes = len(data.classes)
    init = "scratch" if (cfg.from_scratch or cfg.pretrained is None) else f"pretrained:{cfg.pretrained}"
    results = []
    for name in ("val", "test"):
        part = data.splits.get(name)
        if part is None or len(part) == 0:
            continue
        scores = predict_tokens(
            result.net, data.task, part.tokens, cfg.train.eval_batch_size, result.target_mean, result.target_std
        )
        results.append(
            {
                "model": "finetuned",
                "init": init,
                "split": name,
                "checkpoint": checkpoint,
                "metrics": compute_metrics(data.task, part.labels, scores, n_classes),
            }
        )
    if cfg.baseline:
        base = run_kmer_baseline(data, cfg.kmer)
        for name in ("val", "test"):
            if name in base.metrics:
                results.append(
                    {
                        "model": "kmer-baseline",
                        "init": f"k={cfg.kmer.k_values} strength={base.strength:g}",
                        "split": name,
                        "checkpoint": "",
                        "metrics": base.metrics[name],
                    }
                )
    return {
        "dataset": describe_source(cfg.data),
        "task": data.task,
        "classes": data.classes,
        "primary_metric": PRIMARY_METRIC[data.task],
        "checkpoint": checkpoint,
        "config": config,
        "init": init,
        "data_summary": data.summary(),
        "train_seconds": round(result.seconds, 2),
        "best_epoch": result.best_epoch,
        "steps": result.steps,
        "results": results,
    }
