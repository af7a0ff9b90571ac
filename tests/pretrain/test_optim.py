"""Weight-decay groups and the warm-up + cosine schedule."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genomamba.optim import OptimConfig, build_optimizer, param_groups, warmup_cosine


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.A_log = nn.Parameter(torch.zeros(4, 2))
        self.A_log._no_weight_decay = True
        self.D = nn.Parameter(torch.ones(4, 3))
        self.norm = nn.LayerNorm(4)
        self.emb = nn.Embedding(7, 4)
        self.head = nn.Linear(4, 7, bias=False)
        self.head.weight = self.emb.weight  # tied: must appear once
        self._no_weight_decay = {"D"}


def test_groups_honour_no_weight_decay():
    net = _Net()
    decay, no_decay = param_groups(net, 0.1)
    ids = lambda g: {id(p) for p in g["params"]}
    assert ids(decay) == {id(net.lin.weight), id(net.emb.weight)}
    assert ids(no_decay) == {id(net.lin.bias), id(net.A_log), id(net.D), id(net.norm.weight), id(net.norm.bias)}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    n_params = len({id(p) for p in net.parameters()})
    assert len(decay["params"]) + len(no_decay["params"]) == n_params


def test_genomamba_model_groups():
    from genomamba.model import GenomambaModel, ModelConfig

    model = GenomambaModel(ModelConfig(d_model=16, n_layer=1, d_state=4, backend="ref"))
    decay, no_decay = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(p.ndim >= 2 for p in decay["params"])
    assert any("A_log" in names[id(p)] for p in no_decay["params"])


def test_warmup_cosine_shape():
    f = lambda s: warmup_cosine(s, warmup_steps=10, max_steps=110, min_lr_ratio=0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.1 + 0.9 * 0.5)
    assert f(110) == pytest.approx(0.1) and f(500) == pytest.approx(0.1)
    values = [f(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_scheduler_steps_the_lr():
    net = _Net()
    opt, sched = build_optimizer(net, OptimConfig(lr=1e-2, warmup_steps=4, min_lr_ratio=0.0), max_steps=8)
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([2.5e-3, 5e-3, 7.5e-3, 1e-2])
    assert lrs[-1] == pytest.approx(1e-2 * 0.5 * (1 + math.cos(math.pi * 3 / 4)))


def test_bad_optim_config():
    with pytest.raises(ValueError):
        OptimConfig(lr=0)
    with pytest.raises(ValueError):
        OptimConfig(min_lr_ratio=2)
