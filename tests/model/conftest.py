"""Helpers for the model tests: tiny configs on the ``ref`` scan backend (pure PyTorch, any machine)."""

from __future__ import annotations

import pytest
import torch

from genomamba.model import GenomambaModel, ModelConfig

# every (fusion, rc) design the config accepts
DESIGNS = [("head", "none"), ("layer", "none"), ("layer", "ps"), ("layer", "posthoc")]


def tiny_config(**overrides) -> ModelConfig:
    base = dict(d_model=16, n_layer=2, d_state=4, backend="ref")
    base.update(overrides)
    return ModelConfig(**base)


def tiny_model(seed: int = 0, **overrides) -> GenomambaModel:
    torch.manual_seed(seed)
    model = GenomambaModel(tiny_config(**overrides)).eval()
    # perturb the zero-initialised parameters (start state, biases) so no symmetry is hidden by zeros
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def random_ids(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 4, (batch, length), generator=g)


@pytest.fixture(params=DESIGNS, ids=lambda d: f"{d[0]}-{d[1]}")
def design(request):
    return request.param
