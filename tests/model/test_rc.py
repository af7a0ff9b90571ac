"""Reverse-complement equivariance: out(rc(x)) == rc(out(x)) for every RC module and the whole model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genomamba.alphabet import reverse_complement
from genomamba.model.backbone import Backbone
from genomamba.model.bimamba import BiMambaMixer
from genomamba.model.mixer import MambaMixer
from genomamba.model.norm import RMSNorm
from genomamba.model.rc import (
    RCPSEmbedding,
    RCPSMixer,
    RCPSNorm,
    complement_table,
    rc_hidden,
    rc_ids,
    rc_logits,
    rcps_lm_logits,
)

from .conftest import random_ids, tiny_config, tiny_model

TOL = dict(rtol=1e-5, atol=1e-5)
TABLE = complement_table(8)


def test_rc_ids_matches_tokenizer():
    ids = torch.randint(0, 7, (3, 11))
    torch.testing.assert_close(rc_ids(ids, TABLE), reverse_complement(ids))


def test_rcps_embedding():
    torch.manual_seed(0)
    emb = RCPSEmbedding(nn.Embedding(8, 6), TABLE)
    x = random_ids(2, 13)
    torch.testing.assert_close(emb(rc_ids(x, TABLE)), rc_hidden(emb(x)))


@pytest.mark.parametrize("inner", ["mamba", "bimamba"])
def test_rcps_mixer(inner):
    torch.manual_seed(0)
    cfg = tiny_config()
    mixer = RCPSMixer(MambaMixer(cfg) if inner == "mamba" else BiMambaMixer(cfg))
    h = torch.randn(2, 15, 2 * cfg.d_model)
    torch.testing.assert_close(mixer(rc_hidden(h)), rc_hidden(mixer(h)), **TOL)
    # also with packed sequences: the seq_idx of rc(h) is the flipped seq_idx
    seq_idx = torch.tensor([[0] * 6 + [1] * 9, [0] * 15])
    torch.testing.assert_close(mixer(rc_hidden(h), seq_idx.flip(-1)), rc_hidden(mixer(h, seq_idx)), **TOL)


def test_rcps_norm():
    torch.manual_seed(0)
    norm = RCPSNorm(RMSNorm(8))
    with torch.no_grad():
        norm.norm.weight.copy_(torch.randn(8))
    h = torch.randn(2, 7, 16)
    torch.testing.assert_close(norm(rc_hidden(h)), rc_hidden(norm(h)), **TOL)


def test_rcps_lm_head():
    torch.manual_seed(0)
    weight = torch.randn(8, 6)
    h = torch.randn(2, 9, 12)
    torch.testing.assert_close(
        rcps_lm_logits(rc_hidden(h), weight, TABLE), rc_logits(rcps_lm_logits(h, weight, TABLE), TABLE), **TOL
    )


def test_rcps_backbone():
    torch.manual_seed(0)
    backbone = Backbone(tiny_config(fusion="layer", rc="ps")).eval()
    x = random_ids(2, 21)
    torch.testing.assert_close(backbone(rc_ids(x, TABLE)), rc_hidden(backbone(x)), **TOL)


@pytest.mark.parametrize("design", [("layer", "ps"), ("head", "none"), ("layer", "posthoc")])
def test_whole_model_is_rc_equivariant(design):
    fusion, rc = design
    model = tiny_model(fusion=fusion, rc=rc)
    x = random_ids(2, 24)
    x[0, 5] = 4  # an N, which is its own complement
    with torch.no_grad():
        logits, logits_rc = model(x), model(rc_ids(x, TABLE))
        torch.testing.assert_close(logits_rc, rc_logits(logits, TABLE), **TOL)
        if rc != "posthoc":  # ps and fusion head: hidden states are equivariant too (flip length and channels)
            torch.testing.assert_close(model.hidden_states(rc_ids(x, TABLE)), rc_hidden(model.hidden_states(x)), **TOL)


def test_plain_bimamba_is_not_rc_equivariant():
    """The property above is not vacuous: without ps/posthoc the model does see the strand."""
    model = tiny_model(fusion="layer", rc="none")
    x = random_ids(2, 24)
    with torch.no_grad():
        diff = (model(rc_ids(x, TABLE)) - rc_logits(model(x), TABLE)).abs().max()
    assert diff > 1e-3


def test_posthoc_averages_only_in_eval_mode():
    model = tiny_model(fusion="layer", rc="posthoc")
    x = random_ids(1, 16)
    with torch.no_grad():
        model.train()
        single = model(x)
        model.eval()
        averaged = model(x)
    plain = tiny_model(fusion="layer", rc="none")
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        expected = 0.5 * (plain(x) + rc_logits(plain(rc_ids(x, TABLE)), TABLE))
        torch.testing.assert_close(single, plain(x), **TOL)
    torch.testing.assert_close(averaged, expected, **TOL)
