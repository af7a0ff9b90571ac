"""Pretraining task: typed configuration and the LightningModule (objectives, metrics, optimizer).

Objectives follow the model design: ``fusion: head`` predicts every non-N position from both sides (no masking);
``fusion: layer`` (BiMamba, each position sees itself) trains with BERT-style MLM (15%, 80/10/10). The loss is the
cross-entropy over the four nucleotides, weighted per position (soft-masked bases ``softmask_weight``, N 0).

Validation/test report bits per base over every non-N tile position (unweighted: the number people compare), the
same on non-soft-masked positions only, and per-base accuracy. MLM models are scored on every position too: each
tile's positions are split into ``round(1/mlm_probability)`` fixed groups and one pass masks one group. With
several genomes (``data.sources``) each is reported as ``{split}/{genome}/...`` and ``{split}/bits_per_base`` is
the mean over genomes (each genome counts once, whatever its size); with one genome it is that genome's value.
"""

from __future__ import annotations

import math

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from genomamba.alphabet import MASK
from genomamba.optim import OptimConfig, build_optimizer
from genomamba.pretrain.config import DataConfig

LN2 = math.log(2.0)


class PretrainModule(pl.LightningModule):
    """Wraps a ``GenomambaModel``; hyperparameters are plain dicts so Lightning checkpoints load weights-only."""

    def __init__(self, model_config: dict, optim: dict, data: dict, max_steps: int):
        super().__init__()
        self.save_hyperparameters()
        from genomamba.config import from_dict
        from genomamba.model import GenomambaModel, ModelConfig

        self.model = GenomambaModel(from_dict(ModelConfig, model_config))
        self.optim_cfg = from_dict(OptimConfig, optim)
        self.data_cfg = from_dict(DataConfig, data)
        self.objective = self.model.config.objective
        self.genomes = [src.name for src in self.data_cfg.sources] or ["genome"]
        self.max_steps = max_steps
        self.best_val_bpb = math.inf  # restored from checkpoints, drives the "best" export
        self._eval = None

    # ---- losses ---------------------------------------------------------------------------------------------
    def nucleotide_log_probs(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, L) ids -> (B, L, 4) fp32 log-probabilities over A, C, G, T."""
        logits = self.model(input_ids)
        return F.log_softmax(logits[..., :4].float(), dim=-1)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        logp = self.nucleotide_log_probs(batch["input_ids"])
        nll = -logp.gather(-1, batch["targets"].unsqueeze(-1)).squeeze(-1)  # (B, L)
        w = batch["weights"]
        # unscored positions (N, soft-masked at weight 0) leave before weighting: 0 * inf would be NaN. A batch with
        # nothing to score is a zero loss that keeps its graph; one with under a base of weight cannot outweigh one
        nll = torch.where(w > 0, nll, 0.0)
        loss = (nll * w).sum() / w.sum().clamp_min(1.0)
        if not torch.isfinite(loss):
            # never train on (or average into the logs) a NaN/inf: it means a numerical or kernel bug
            raise FloatingPointError(
                f"non-finite training loss at step {self.global_step} (backend {self.model.config.backend!r})"
            )
        with torch.no_grad():
            scored = w > 0
            n = scored.sum().clamp_min(1)
            acc = ((logp.argmax(-1) == batch["targets"]) & scored).sum() / n
            bpb = (nll * scored).sum() / n / LN2
        b, length = batch["input_ids"].shape
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/acc", acc)
        self.log("train/bits_per_base", bpb)
        self.log("train/seq_len", float(length))
        self.log("train/batch_size", float(b))
        return loss

    # ---- evaluation -----------------------------------------------------------------------------------------
    def _eval_start(self) -> None:
        # running sums per genome: nll (nats) all, count all, correct all, nll unmasked, count unmasked
        self._eval = torch.zeros(len(self.genomes), 5, dtype=torch.float64, device=self.device)

    def _eval_step(self, batch: dict) -> None:
        ids, targets, valid, soft = batch["input_ids"], batch["targets"], batch["valid"], batch["softmask"]
        if self.objective == "all":
            passes = [(ids, valid)]
        else:
            group = batch["mlm_group"]
            n_groups = int(round(1.0 / self.data_cfg.mlm_probability))
            passes = []
            for g in range(n_groups):
                scored = valid & (group == g)
                passes.append((torch.where(scored, torch.full_like(ids, MASK), ids), scored))
        for inputs, scored in passes:
            logp = self.nucleotide_log_probs(inputs)
            nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1).double()
            correct = (logp.argmax(-1) == targets) & scored
            unmasked = scored & ~soft
            self._eval[int(batch.get("source", 0))] += torch.stack(
                [
                    (nll * scored).sum(),
                    scored.sum().double(),
                    correct.sum().double(),
                    (nll * unmasked).sum(),
                    unmasked.sum().double(),
                ]
            )

    def _eval_end(self, prefix: str) -> dict[str, float]:
        sums = self.trainer.strategy.reduce(self._eval, reduce_op="sum")  # every rank scored its share of tiles
        per_genome = [_rates(row) for row in sums.tolist()]
        metrics = {
            f"{prefix}/{key}": sum(g[key] for g in per_genome) / len(per_genome)
            for key in ("bits_per_base", "bits_per_base_unmasked", "acc")
        }
        metrics[f"{prefix}/positions"] = sum(g["positions"] for g in per_genome)
        if len(per_genome) > 1:
            for name, g in zip(self.genomes, per_genome):
                metrics.update({f"{prefix}/{name}/{key}": value for key, value in g.items()})
        for k, v in metrics.items():
            self.log(k, v, prog_bar=k == f"{prefix}/bits_per_base", sync_dist=False)
        self.last_eval = metrics
        return metrics

    def on_validation_epoch_start(self) -> None:
        self._eval_start()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val")

    def on_test_epoch_start(self) -> None:
        self._eval_start()

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")

    # ---- optimizer and checkpoint state ---------------------------------------------------------------------
    def configure_optimizers(self):
        opt, sched = build_optimizer(self.model, self.optim_cfg, self.max_steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 1}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["genomamba_best_val_bpb"] = self.best_val_bpb

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.best_val_bpb = float(checkpoint.get("genomamba_best_val_bpb", math.inf))


def _rates(sums: list[float]) -> dict[str, float]:
    """One genome's eval sums (nll, n, correct, nll unmasked, n unmasked) -> bits/base, accuracy, positions."""
    nll, n, correct, nll_u, n_u = sums
    return {
        "bits_per_base": nll / max(n, 1) / LN2,
        "bits_per_base_unmasked": nll_u / max(n_u, 1) / LN2,
        "acc": correct / max(n, 1),
        "positions": n,
    }
