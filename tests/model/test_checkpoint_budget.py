"""``checkpoint_budget_gib``: activation checkpointing only for batches whose activations would exceed it."""

from __future__ import annotations

import pytest
import torch

from genomamba.model import GenomambaModel, ModelConfig

from .conftest import random_ids


def test_checkpoint_budget_decides_per_batch(monkeypatch):
    """checkpointing on + a budget: only batches whose estimated activations exceed it are recomputed; the
    gradients are the same either way."""
    import genomamba.model.backbone as backbone

    calls = []
    real = backbone.checkpoint
    monkeypatch.setattr(backbone, "checkpoint", lambda *a, **k: calls.append(1) or real(*a, **k))
    cfg = dict(d_model=16, n_layer=2, d_state=4, backend="ref", checkpointing=True)
    x = random_ids(1, 40)
    per_token = ModelConfig(**cfg).activation_gib(40) / 40
    grads = []
    for budget, expect in ((0.0, True), (per_token * 41, False), (per_token * 39, True)):
        calls.clear()
        torch.manual_seed(0)
        model = GenomambaModel(ModelConfig(**cfg, checkpoint_budget_gib=budget)).train()
        assert model.config.checkpoint_batch(40) is expect
        model(x).square().mean().backward()
        assert bool(calls) is expect
        grads.append([p.grad for p in model.parameters() if p.grad is not None])
    for g_other in grads[1:]:
        for a, b in zip(grads[0], g_other):
            torch.testing.assert_close(a, b)
    assert not ModelConfig(**{**cfg, "checkpointing": False}).checkpoint_batch(10**9)
    with pytest.raises(ValueError, match="checkpoint_budget_gib"):
        ModelConfig(checkpoint_budget_gib=-1)
