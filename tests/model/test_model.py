"""Model-level behaviour: configs, input checks, log-probs, gradients, activation checkpointing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from genomamba.alphabet import MASK
from genomamba.config import load_config
from genomamba.errors import GenomambaError
from genomamba.model import GenomambaModel, ModelConfig, nucleotide_log_probs

from .conftest import random_ids, tiny_model

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "model"


@pytest.mark.parametrize("name", ["tiny", "small", "base"])
def test_shipped_configs_load_and_state_their_parameter_count(name):
    path = CONFIGS / f"{name}.yaml"
    config = load_config(ModelConfig, path)
    stated = re.search(r"parameters:\s*([\d,]+)", path.read_text())
    assert stated, f"{path} must state its parameter count"
    with torch.device("meta"):  # count without allocating
        model = GenomambaModel(config)
    assert model.num_parameters() == int(stated.group(1).replace(",", ""))


def test_config_rejects_bad_combinations():
    with pytest.raises(ValueError, match="equivariant by construction"):
        ModelConfig(fusion="head", rc="ps")
    with pytest.raises(ValueError, match="dt_min"):
        ModelConfig(dt_min=0.5, dt_max=0.1)
    with pytest.raises(GenomambaError, match="not one of"):
        load_config(ModelConfig, overrides=["fusion=middle"])


def test_input_checks():
    model = tiny_model(fusion="head")
    with pytest.raises(GenomambaError, match="token ids must lie"):
        model(torch.tensor([[0, 1, 9]]))
    with pytest.raises(GenomambaError, match="batch, length"):
        model(torch.tensor([0, 1, 2]))
    with pytest.raises(GenomambaError, match="empty"):
        model(torch.zeros(0, 5, dtype=torch.long))
    with pytest.raises(GenomambaError, match="seq_idx shape"):
        model(torch.tensor([[0, 1, 2]]), torch.zeros(1, 2, dtype=torch.long))


def test_layer_model_log_probs_with_masking():
    model = tiny_model(fusion="layer", rc="ps")
    x = random_ids(2, 12)
    masked = x.clone()
    masked[:, 5] = MASK
    with torch.no_grad():
        logp = nucleotide_log_probs(model, masked)
        plain = nucleotide_log_probs(model, x)
    assert logp.shape == (2, 12, 4)
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(2, 12))
    assert (logp[:, 5] - plain[:, 5]).abs().max() > 1e-5  # fusion layer does see x[p]


@pytest.mark.parametrize("design", [("head", "none"), ("layer", "ps")])
def test_activation_checkpointing_gives_the_same_gradients(design):
    fusion, rc = design
    x = random_ids(2, 14)
    grads = []
    for checkpointing in (False, True):
        model = tiny_model(fusion=fusion, rc=rc, checkpointing=checkpointing).train()
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, 7), x.reshape(-1))
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 10
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-5, atol=1e-6, msg=name)


def test_no_weight_decay_flags_reach_every_mixer():
    model = tiny_model(fusion="layer", rc="ps")
    flagged = {n for n, p in model.named_parameters() if getattr(p, "_no_weight_decay", False)}
    assert flagged and all(n.endswith(("A_log", "D")) for n in flagged)
    assert len(flagged) == 2 * 2 * model.config.n_layer  # A_log and D, two directions, every layer


def test_hidden_sizes_and_set_backend(design):
    fusion, rc = design
    model = tiny_model(fusion=fusion, rc=rc)
    x = random_ids(2, 9)
    with torch.no_grad():
        hidden = model.hidden_states(x)
    assert hidden.shape == (2, 9, model.hidden_size)
    assert model.hidden_size == (32 if (fusion == "head" or rc == "ps") else 16)
    model.set_backend("cpu")
    assert {m.backend for m in model.modules() if hasattr(m, "backend")} == {"cpu"}
    with pytest.raises(GenomambaError, match="unknown backend"):
        model.set_backend("gpu")


def test_fusion_context_needs_fusion_head():
    with pytest.raises(GenomambaError, match="fusion 'head'"):
        tiny_model(fusion="layer").fusion_context(random_ids(1, 5))
