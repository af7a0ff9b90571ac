"""Sequence / per-position heads: padding-aware pooling, both-strand averaging, gradients flow."""

from __future__ import annotations

import pytest
import torch

from genomamba.alphabet import PAD
from genomamba.errors import GenomambaError
from genomamba.model import GenomambaForSequence, HeadConfig, rc_ids
from genomamba.model.heads import pool

from .conftest import random_ids, tiny_model

TOL = dict(rtol=1e-5, atol=1e-5)


def test_pool_mean_and_center_ignore_padding():
    hidden = torch.arange(2 * 6 * 1, dtype=torch.float32).reshape(2, 6, 1)
    valid = torch.tensor([[0, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    torch.testing.assert_close(pool(hidden, valid, "mean"), torch.tensor([[2.0], [8.5]]))
    torch.testing.assert_close(pool(hidden, valid, "center"), torch.tensor([[2.0], [8.0]]))
    with pytest.raises(GenomambaError, match="only of \\[PAD\\]"):
        pool(hidden, torch.zeros(2, 6, dtype=torch.bool), "mean")


@pytest.mark.parametrize("pooling", ["mean", "center"])
def test_sequence_head_is_padding_invariant(design, pooling):
    fusion, rc = design
    head = GenomambaForSequence(tiny_model(fusion=fusion, rc=rc), HeadConfig(n_outputs=3, pooling=pooling)).eval()
    seq = random_ids(1, 15)
    padded = torch.cat([torch.full((1, 2), PAD), seq, torch.full((1, 7), PAD)], dim=1)
    with torch.no_grad():
        out = head(torch.cat([padded, torch.cat([seq, torch.full((1, 9), PAD)], 1)], 0))
        torch.testing.assert_close(out, head(seq).expand(2, 3), **TOL)


def test_both_strands_make_the_output_strand_invariant(design):
    fusion, rc = design
    model = tiny_model(fusion=fusion, rc=rc)
    x = random_ids(2, 21)
    for kind in ("sequence", "position"):
        head = GenomambaForSequence(model, HeadConfig(kind=kind, n_outputs=2, strands="both")).eval()
        with torch.no_grad():
            out, out_rc = head(x), head(rc_ids(x, model.complement))
        if kind == "position":
            out_rc = out_rc.flip(1)  # position p of rc(x) is position L-1-p of x
        torch.testing.assert_close(out_rc, out, **TOL)


def test_forward_strand_only_sees_the_strand():
    model = tiny_model(fusion="layer", rc="none")
    head = GenomambaForSequence(model, HeadConfig(n_outputs=2, strands="forward")).eval()
    x = random_ids(2, 21)
    with torch.no_grad():
        assert (head(x) - head(rc_ids(x, model.complement))).abs().max() > 1e-4


def test_gradients_reach_the_backbone():
    head = GenomambaForSequence(tiny_model(fusion="head"), HeadConfig(n_outputs=1, task="regression")).train()
    x = random_ids(3, 10)
    assert head(x).shape == (3, 1)
    head(x).pow(2).mean().backward()
    assert head.model.backbone.layers[0].mixer.in_proj.weight.grad.abs().sum() > 0
    pos = GenomambaForSequence(tiny_model(fusion="layer"), HeadConfig(kind="position", n_outputs=4))
    assert pos(x).shape == (3, 10, 4)


def test_head_config_validation():
    with pytest.raises(ValueError, match="labels"):
        HeadConfig(n_outputs=2, labels=["only-one"])
    with pytest.raises(ValueError, match="n_outputs"):
        HeadConfig(n_outputs=0)
