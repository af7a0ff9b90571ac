"""A training batch with nothing to score (all N, or all soft-masked at weight 0) gives a zero loss, never NaN,
and the optimizer step it drives leaves every parameter finite."""

from __future__ import annotations

import warnings

import pytest
import torch

from genomamba.alphabet import N
from genomamba.config import to_dict
from genomamba.optim import OptimConfig
from genomamba.pretrain.data import DataConfig
from genomamba.pretrain.module import PretrainModule

MICRO = {"d_model": 16, "n_layer": 2, "d_state": 4, "rc": "none", "backend": "ref"}


def _module(fusion: str) -> PretrainModule:
    torch.manual_seed(0)
    optim = to_dict(OptimConfig(warmup_steps=0))
    return PretrainModule({**MICRO, "fusion": fusion}, optim, to_dict(DataConfig()), max_steps=10)


def _batch(kind: str, b: int = 2, length: int = 64) -> dict:
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, 4, (b, length), generator=g)
    if kind == "all_n":  # an all-N window: no position is a target
        tokens = torch.full((b, length), N)
    targets = torch.where(tokens == N, 0, tokens)
    return {"input_ids": tokens, "targets": targets, "weights": torch.zeros(b, length)}  # softmask_weight 0: all 0


def _step(module: PretrainModule, batch: dict) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log without a Trainer warns and does nothing
        return module.training_step(batch, 0)


@pytest.mark.parametrize("fusion", ["head", "layer"])
@pytest.mark.parametrize("kind", ["all_n", "all_softmasked"])
def test_nothing_to_score_is_a_zero_loss_and_a_finite_step(fusion, kind):
    module = _module(fusion)
    optimizer = module.configure_optimizers()["optimizer"]
    before = [p.detach().clone() for p in module.parameters()]
    loss = _step(module, _batch(kind))
    assert torch.isfinite(loss) and loss.item() == 0.0
    assert loss.requires_grad  # the graph is kept: Lightning's backward and DDP's gradient sync still run
    loss.backward()
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() and not g.any() for g in grads)  # zero gradients
    optimizer.step()
    for old, new in zip(before, module.parameters()):
        assert torch.isfinite(new).all()
        # only weight decay moves a parameter when the gradient is zero: shrinks towards 0, never grows
        assert (new.abs() <= old.abs() + 1e-12).all()


def test_unscored_positions_cannot_poison_the_loss(monkeypatch):
    """-inf log-probabilities at weight-0 positions (e.g. a huge logit under mixed precision at an N) stay out of
    the loss and its gradient: 0 * inf would be NaN."""
    module = _module("head")
    batch = _batch("all_softmasked")
    batch["weights"][:, :32] = 1.0  # the first half is scored
    real = module.nucleotide_log_probs

    def with_inf_where_unscored(input_ids):
        logp = real(input_ids)
        unscored = (batch["weights"] == 0).unsqueeze(-1)
        return torch.where(unscored, torch.full_like(logp, -torch.inf), logp)

    expected = -real(batch["input_ids"]).gather(-1, batch["targets"].unsqueeze(-1))[:, :32].mean()
    monkeypatch.setattr(module, "nucleotide_log_probs", with_inf_where_unscored)
    loss = _step(module, batch)
    assert torch.isfinite(loss) and torch.allclose(loss, expected)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters() if p.grad is not None)


def test_weighted_mean_and_tiny_batches():
    module = _module("head")
    batch = _batch("all_softmasked")
    nll = -module.nucleotide_log_probs(batch["input_ids"]).gather(-1, batch["targets"].unsqueeze(-1)).squeeze(-1)
    batch["weights"][0, :10] = 1.0
    batch["weights"][1, :10] = 0.1  # soft-masked bases
    w = batch["weights"]
    assert torch.allclose(_step(module, batch), (nll * w).sum() / w.sum())  # a plain weighted mean
    batch["weights"].zero_()
    batch["weights"][1, 3] = 0.1  # a single soft-masked base: weighs 0.1 of a base, not a whole batch
    assert torch.allclose(_step(module, batch), 0.1 * nll[1, 3])
