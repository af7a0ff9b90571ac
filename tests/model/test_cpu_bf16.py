"""``cpu_autocast``: bf16 projections on CPU keep the model within bf16 tolerance of fp32 (outputs and
gradients), leave the scan state fp32, and old configs without the key still load."""

from __future__ import annotations

import pytest
import torch

from genomamba.config import from_dict
from genomamba.model import GenomambaModel, ModelConfig
from genomamba.threads import cpu_has_bf16

from .conftest import random_ids


def _pair(**overrides):
    """The same weights as an fp32 model and a bf16-projection model (C++ backend)."""
    cfg = dict(d_model=32, n_layer=2, d_state=16, backend="cpu", **overrides)
    torch.manual_seed(0)
    ref = GenomambaModel(ModelConfig(**cfg, cpu_autocast="off")).train()
    fast = GenomambaModel(ModelConfig(**cfg, cpu_autocast="bf16")).train()
    fast.load_state_dict(ref.state_dict())
    return ref, fast


@pytest.mark.parametrize("fusion", ["head", "layer"])
@pytest.mark.parametrize("length", [1, 17, 1134])
def test_bf16_projections_close_to_fp32(fusion, length):
    ref, fast = _pair(fusion=fusion)
    x = random_ids(2, length)
    seq_idx = None
    if length > 2:  # a boundary in row 0, none in row 1
        seq_idx = torch.zeros(2, length, dtype=torch.long)
        seq_idx[0, length // 2 :] = 1
    outs, grads = [], []
    for model in (ref, fast):
        out = model(x, seq_idx)
        out.log_softmax(-1).mean().backward()
        outs.append(out.detach())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert outs[1].dtype == torch.float32
    assert not torch.equal(outs[0], outs[1]), "bf16 projections must actually change the arithmetic"
    # bf16 keeps 8 mantissa bits (relative rounding 2^-9); a few layers of it give ~1e-2 relative
    scale = outs[0].abs().max()
    torch.testing.assert_close(outs[1], outs[0], rtol=0, atol=2e-2 * scale)
    for name, g in grads[0].items():
        err = (grads[1][name] - g).norm() / g.norm().clamp_min(1e-12)
        assert err < 0.05, f"{name}: relative gradient error {err:.3g}"


def test_bf16_reverse_and_flip_agree():
    """The reverse mixer still equals the flipped forward mixer with bf16 projections (same arithmetic)."""
    from genomamba.model.mixer import MambaMixer

    torch.manual_seed(0)
    mixer = MambaMixer(ModelConfig(d_model=16, d_state=16, backend="cpu", cpu_autocast="bf16"))
    h = torch.randn(2, 19, 16)
    torch.testing.assert_close(mixer(h, reverse=True), mixer(h.flip(1)).flip(1), rtol=1e-5, atol=1e-5)


def test_auto_follows_cpu_flags_and_old_configs_load():
    assert ModelConfig(cpu_autocast="auto").cpu_bf16 == cpu_has_bf16()
    assert ModelConfig().cpu_autocast == "off" and not ModelConfig().cpu_bf16
    old = {k: v for k, v in ModelConfig().__dict__.items() if k != "cpu_autocast"}  # a config.json from before
    assert from_dict(ModelConfig, old).cpu_autocast == "off"
    with pytest.raises(ValueError, match="cpu_autocast"):
        ModelConfig(cpu_autocast="fp16")
