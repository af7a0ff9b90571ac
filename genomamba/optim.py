"""AdamW with weight-decay groups and a linear warm-up + cosine learning-rate schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genomamba.config import all_finite


@dataclass
class OptimConfig:
    """Optimizer and schedule (the YAML ``optim:`` section)."""

    lr: float = 2e-3
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio at max_steps
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping

    def __post_init__(self) -> None:
        values = {"lr": self.lr, "weight_decay": self.weight_decay, "grad_clip": self.grad_clip, "eps": self.eps}
        bad = [name for name, value in values.items() if not all_finite(value)]
        if bad:
            raise ValueError(f"{', '.join(bad)} must be finite, got {', '.join(str(values[n]) for n in bad)}")
        if self.lr <= 0 or self.weight_decay < 0 or self.warmup_steps < 0 or self.grad_clip < 0:
            raise ValueError("need lr > 0, weight_decay >= 0, warmup_steps >= 0, grad_clip >= 0")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio {self.min_lr_ratio} is not in [0, 1]")
        if not (0.0 <= self.beta1 < 1.0 and 0.0 <= self.beta2 < 1.0):
            raise ValueError(f"beta1 and beta2 must be in [0, 1), got {self.beta1} and {self.beta2}")
        if self.eps <= 0:
            raise ValueError(f"eps must be > 0, got {self.eps}")


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: decayed matrices, and undecayed biases / norm weights / ``_no_weight_decay`` parameters.

    A parameter opts out with the attribute ``p._no_weight_decay = True`` (mamba-ssm's convention for A_log and D)
    or by being named in a module's ``_no_weight_decay`` collection of parameter names; every parameter with fewer
    than 2 dimensions (biases, norm scales) is not decayed either. Tied parameters appear once.
    """
    skip_names: set[str] = set()
    for mod_name, mod in model.named_modules():
        names = getattr(mod, "_no_weight_decay", None)
        if isinstance(names, (set, list, tuple)):
            skip_names.update(f"{mod_name}.{n}" if mod_name else n for n in names)
    decay, no_decay, seen = [], [], set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        if getattr(p, "_no_weight_decay", False) or p.ndim < 2 or name in skip_names:
            no_decay.append(p)
        else:
            decay.append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def warmup_cosine(step: int, warmup_steps: int, max_steps: int, min_lr_ratio: float) -> float:
    """LR multiplier at ``step``: linear from 1/warmup to 1 over ``warmup_steps``, then cosine to ``min_lr_ratio``."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, max_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_optimizer(model: torch.nn.Module, cfg: OptimConfig, max_steps: int):
    """AdamW over :func:`param_groups` and a per-step ``LambdaLR`` (Lightning ``interval: step``)."""
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: warmup_cosine(s, cfg.warmup_steps, max_steps, cfg.min_lr_ratio)
    )
    return opt, sched
