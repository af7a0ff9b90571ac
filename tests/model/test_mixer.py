"""Mamba mixer init and direction; BiMamba equals a hand-composed forward + flipped-reverse mixer."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from genomamba.model.bimamba import BiMambaMixer
from genomamba.model.mixer import MambaMixer

from .conftest import tiny_config


def test_mamba_initialisation():
    cfg = tiny_config(d_model=32, d_state=8, dt_min=0.002, dt_max=0.05)
    torch.manual_seed(0)
    mixer = MambaMixer(cfg)
    # S4D-real: A = -(1..N) for every channel
    expected_A = -torch.arange(1, 9, dtype=torch.float32).expand(cfg.d_inner, 8)
    torch.testing.assert_close(-torch.exp(mixer.A_log), expected_A)
    assert mixer.A_log._no_weight_decay and mixer.D._no_weight_decay
    assert torch.all(mixer.D == 1)
    # dt = softplus(bias) lies in [dt_min, dt_max] (inverse-softplus initialisation)
    dt = F.softplus(mixer.dt_proj.bias)
    assert dt.min() >= 0.002 * (1 - 1e-4) and dt.max() <= 0.05 * (1 + 1e-4)
    std = cfg.dt_rank_value**-0.5
    assert mixer.dt_proj.weight.abs().max() <= std
    assert mixer.x_proj.weight.shape == (cfg.dt_rank_value + 2 * 8, cfg.d_inner)
    assert cfg.dt_rank_value == math.ceil(32 / 16)


def test_reverse_mixer_equals_flipped_forward_mixer():
    torch.manual_seed(0)
    mixer = MambaMixer(tiny_config())
    h = torch.randn(2, 19, 16)
    torch.testing.assert_close(mixer(h, reverse=True), mixer(h.flip(1)).flip(1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("strategy", ["add", "ew_multiply"])
@pytest.mark.parametrize("tie", [True, False])
def test_bimamba_equals_hand_composed(strategy, tie):
    torch.manual_seed(0)
    bi = BiMambaMixer(tiny_config(bidirectional_strategy=strategy, bidirectional_weight_tie=tie))
    h = torch.randn(2, 17, 16)
    fwd = bi.mixer_fwd(h)
    rev = bi.mixer_rev(h.flip(1)).flip(1)  # Caduceus: mixer over the flipped sequence, flipped back
    expected = fwd + rev if strategy == "add" else fwd * rev
    torch.testing.assert_close(bi(h), expected, rtol=1e-5, atol=1e-6)
    assert (bi.mixer_rev.in_proj is bi.mixer_fwd.in_proj) == tie
    assert (bi.mixer_rev.out_proj is bi.mixer_fwd.out_proj) == tie
    assert bi.mixer_rev.conv_weight is not bi.mixer_fwd.conv_weight  # conv/ssm never tied


def test_weight_tie_shares_parameters_and_gradients():
    torch.manual_seed(0)
    bi = BiMambaMixer(tiny_config(bidirectional_weight_tie=True))
    untied = BiMambaMixer(tiny_config(bidirectional_weight_tie=False))
    n_tied = sum(p.numel() for p in bi.parameters())
    n_untied = sum(p.numel() for p in untied.parameters())
    proj = sum(p.numel() for m in (bi.mixer_fwd.in_proj, bi.mixer_fwd.out_proj) for p in m.parameters())
    assert n_untied - n_tied == proj
    bi(torch.randn(1, 9, 16)).sum().backward()
    assert bi.mixer_fwd.in_proj.weight.grad is not None
