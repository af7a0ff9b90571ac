"""Lightning callbacks and plugins of a pretraining run: progress and throughput, model exports (best by val and
last), and an atomic checkpoint writer. Each receives the run's config instead of closing over it."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.plugins.io import TorchCheckpointIO

from genomamba.atomic import atomic_file
from genomamba.pretrain.config import PretrainConfig
from genomamba.pretrain.data import PretrainDataModule

log = logging.getLogger(__name__)


def save_model(module, path: Path, extra: dict) -> None:
    """A self-describing model directory (``save_pretrained``) with ``extra`` under ``pretraining``."""
    module.model.save_pretrained(path, extra={"pretraining": extra})


class Progress(pl.Callback):
    """tokens/s (logged as train/tokens_per_s) and a progress line with ETA every ``trainer.log_every_steps``.
    It also times every optimizer step after the first ``SETTLE`` of this fit, skipping any step that spans a
    validation: ``steady_step_seconds`` is their mean. A short timing probe's ``fit_seconds / steps`` also counts
    Lightning's start-up and the first, slow steps (1-7 % of a 30-step probe on the dev box), and a step plan
    fitted from it left ~10 % of a 105-minute run's budget unused."""

    SETTLE = 5

    def __init__(self, cfg: PretrainConfig):
        self.cfg = cfg
        self.t0 = self.tokens = self.last_step = self.start_step = None
        self.step_t: float | None = None  # perf_counter at the end of the last timed step (None: next is not timed)
        self.prev_step: int | None = None
        self.step_durations: list[float] = []

    @property
    def steady_step_seconds(self) -> float | None:
        return sum(self.step_durations) / len(self.step_durations) if self.step_durations else None

    def on_train_start(self, trainer, module) -> None:
        self.t0, self.tokens, self.last_step = time.perf_counter(), 0, trainer.global_step
        self.start_step = trainer.global_step
        self.step_t, self.prev_step, self.step_durations = None, trainer.global_step, []

    def on_validation_start(self, trainer, module) -> None:
        self.step_t = None  # the next step's interval would include this validation

    def _time_step(self, step: int) -> None:
        if step == self.prev_step:  # a micro-batch inside gradient accumulation
            return
        self.prev_step, now = step, time.perf_counter()
        if self.step_t is not None:
            self.step_durations.append(now - self.step_t)
        self.step_t = now if step - self.start_step >= self.SETTLE else None

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.tokens += self.cfg.data.tokens_per_micro_batch * trainer.world_size
        step = trainer.global_step
        self._time_step(step)
        if step == self.last_step or step % self.cfg.trainer.log_every_steps:
            return
        self.last_step = step
        dt = time.perf_counter() - self.t0
        rate = self.tokens / max(dt, 1e-9)
        module.log("train/tokens_per_s", rate, prog_bar=True, rank_zero_only=True)
        if trainer.is_global_zero:
            self._log_line(trainer, step, rate, dt)

    def _log_line(self, trainer, step: int, rate: float, dt: float) -> None:
        max_steps = self.cfg.trainer.max_steps
        eta = (max_steps - step) * dt / max(step - self.start_step, 1)
        loss = trainer.callback_metrics.get("train/loss")
        log.info(
            "step %d/%d  seq_len %d  loss %.4f  %.0f tokens/s  elapsed %.0f s  ETA %.0f s",
            step,
            max_steps,
            self.cfg.data.seq_len_at(step),
            float(loss) if loss is not None else math.nan,
            rate,
            dt,
            eta,
        )


class Export(pl.Callback):
    """Self-describing model exports into ``out``: ``best`` by val bits/base, and ``last`` at every Lightning
    checkpoint. At fit start (rank 0) it also computes the k-mer baselines, kept in ``self.baselines``."""

    def __init__(self, cfg: PretrainConfig, out: Path, dm: PretrainDataModule):
        self.cfg, self.out, self.dm = cfg, out, dm
        self.baselines: dict | None = None

    def on_fit_start(self, trainer, module) -> None:
        from genomamba.pretrain.report import compute_baselines

        if self.cfg.baselines.enabled and trainer.is_global_zero:
            self.baselines = compute_baselines(self.dm, self.cfg, self.out)

    def on_validation_end(self, trainer, module) -> None:
        if trainer.sanity_checking or not hasattr(module, "last_eval"):
            return
        bpb = module.last_eval.get("val/bits_per_base", math.inf)
        if bpb < module.best_val_bpb:
            module.best_val_bpb = bpb
            if trainer.is_global_zero:
                save_model(module, self.out / "best", {"step": trainer.global_step, "val_bits_per_base": bpb})
        if trainer.is_global_zero:
            log.info("val bits/base %.4f at step %d (best %.4f)", bpb, trainer.global_step, module.best_val_bpb)

    def on_save_checkpoint(self, trainer, module, checkpoint) -> None:
        if trainer.is_global_zero:
            save_model(module, self.out / "last", {"step": trainer.global_step})


class AtomicCheckpointIO(TorchCheckpointIO):
    """A killed run never leaves a truncated last.ckpt: write a sibling, then rename."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as tmp:
            super().save_checkpoint(checkpoint, tmp, storage_options)
