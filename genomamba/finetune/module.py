"""The fine-tuning network and its LightningModule: loss, reverse-complement augmentation, optimizer groups,
validation metrics, and the callback that keeps the best epoch's weights.

A batch is ``input_ids`` (B, L_max) right-padded with [PAD]; the model turns every [PAD] run into its own
``seq_idx`` segment (``genomamba.model.segments.with_padding_boundaries``), so the scans and convolutions of a real
sequence never see padding, and pooling averages real bases only: a sequence's prediction does not depend on the
batch it is in (tested). Training uses the forward strand with random reverse-complement augmentation by default
(``head.train_strands``); validation and prediction average the features of both strands (``head.eval_strands``).

Model selection: the validation split is scored with scikit-learn after every epoch (AUROC for binary, MCC for
multi-class, Spearman for regression, ``genomamba.metrics.supervised.PRIMARY_METRIC``); ``KeepBest`` keeps the best
weights and stops training after ``train.patience`` epochs without improvement.
"""

from __future__ import annotations

import copy
import logging
import math

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from genomamba.finetune.config import FinetuneConfig
from genomamba.finetune.datasets import LabeledData
from genomamba.finetune.predict import outputs_to_scores
from genomamba.metrics.supervised import PRIMARY_METRIC, compute_metrics, primary_value
from genomamba.model import GenomambaForSequence, GenomambaModel, HeadConfig

log = logging.getLogger(__name__)


def build_network(cfg: FinetuneConfig, data: LabeledData) -> GenomambaForSequence:
    """``GenomambaForSequence`` for the task: pretrained backbone (or fresh, same or configured architecture)."""
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
        backbone = GenomambaModel.from_pretrained(cfg.pretrained, backend=cfg.backend)
        if cfg.from_scratch:
            backbone = GenomambaModel(backbone.config)
    else:
        log.info("no pretrained checkpoint: training from scratch (model_config %s)", cfg.model_config)
        backbone = GenomambaModel(cfg.scratch_model())
    return GenomambaForSequence(backbone, head).train()  # from_pretrained returns eval mode


class FinetuneModule(pl.LightningModule):
    """Loss, RC augmentation, optimizer groups (backbone / head LR, frozen backbone) and validation metrics.

    Regression trains on standardised targets ``(y - target_mean) / target_std``; ``class_weights`` (K,) weight
    the classification loss (empty: unweighted).
    """

    def __init__(
        self,
        net: GenomambaForSequence,
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
        scores = outputs_to_scores(self.task, out, self.target_mean, self.target_std)
        metrics = compute_metrics(self.task, y, scores, self.n_classes)
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


class KeepBest(pl.Callback):
    """Keep the weights of the best validation epoch in memory (small models) and stop after ``patience``."""

    def __init__(self, patience: int):
        self.patience, self.best, self.best_state, self.best_epoch, self.bad = patience, -math.inf, None, -1, 0

    def on_validation_end(self, trainer, module: FinetuneModule) -> None:
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
