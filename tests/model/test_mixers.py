"""The mixer family: per-layer patterns of Mamba-1 (M), Mamba-2/SSD (S) and attention (A) layers.

Every pattern keeps the model's symmetries (RC equivariance, padding and packing invariance) in every design;
the SSD mixer runs both directions; attention is causal in fusion "head" stacks, masks segments, runs a local
window blockwise and refuses full attention at lengths whose scores cannot fit; configs and checkpoints carry
the pattern, and checkpoints written before the mixer family load unchanged.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from genomamba.alphabet import PAD
from genomamba.config import load_config
from genomamba.errors import GenomambaError
from genomamba.model import GenomambaModel, ModelConfig
from genomamba.model.attention import AttentionMixer, rotary
from genomamba.model.bimamba import BiMambaMixer
from genomamba.model.rc import complement_table, rc_hidden, rc_ids, rc_logits
from genomamba.model.ssd_mixer import Mamba2Mixer

from .conftest import DESIGNS, random_ids, tiny_config, tiny_model

TOL = dict(rtol=1e-5, atol=1e-5)
TABLE = complement_table(8)
PATTERNS = {"M": 2, "S": 2, "A": 2, "SSA": 3, "MMSA": 4}  # pattern -> n_layer
MIXER_FIELDS = dict(ssd_d_state=8, ssd_headdim=8, ssd_chunk_size=8, attn_n_heads=2)
CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "model"


def mixer_model(pattern: str, fusion: str = "head", rc: str = "none", **overrides):
    fields = dict(n_layer=PATTERNS[pattern], **MIXER_FIELDS)
    fields.update(overrides)
    return tiny_model(fusion=fusion, rc=rc, mixer=pattern, **fields)


@pytest.fixture(params=list(PATTERNS))
def pattern(request):
    return request.param


# ------------------------------------------------------------------------------------------------ config


def test_pattern_forms_and_errors():
    assert ModelConfig(n_layer=3, mixer="s").mixer_pattern == "SSS"
    assert ModelConfig(n_layer=4, mixer=["M", "M", "S", "A"]).mixer == "MMSA"
    assert ModelConfig().mixer_pattern == "MMMM"  # default: Mamba-1 everywhere, as before the mixer family
    with pytest.raises(ValueError, match="letters of MSA"):
        ModelConfig(mixer="MX")
    with pytest.raises(ValueError, match="has 3 letters; give one"):
        ModelConfig(n_layer=4, mixer="SSA")
    with pytest.raises(ValueError, match="multiple of ssd_headdim"):
        ModelConfig(d_model=32, mixer="S", ssd_headdim=48)
    with pytest.raises(ValueError, match="multiple of ssd_ngroups"):
        ModelConfig(d_model=64, mixer="S", ssd_headdim=32, ssd_ngroups=3)
    with pytest.raises(ValueError, match="multiple of attn_n_heads"):
        ModelConfig(d_model=64, mixer="A", attn_n_heads=5)
    with pytest.raises(ValueError, match="attn_window"):
        ModelConfig(mixer="A", attn_window=0)
    with pytest.raises(GenomambaError, match="letters of MSA"):
        load_config(ModelConfig, overrides=["mixer=MZ"])


@pytest.mark.parametrize("name", ["tiny_ssd", "tiny_hybrid", "small_ssd", "small_hybrid"])
def test_presets_state_their_parameter_count(name):
    path = CONFIGS / f"{name}.yaml"
    config = load_config(ModelConfig, path)
    stated = re.search(r"parameters:\s*([\d,]+)", path.read_text())
    assert stated, f"{path} must state its parameter count"
    with torch.device("meta"):
        model = GenomambaModel(config)
    assert model.num_parameters() == int(stated.group(1).replace(",", ""))
    assert "S" in config.mixer_pattern


def test_checkpoint_without_mixer_keys_loads_as_mamba1(tmp_path):
    """A config.json written before the mixer family (no mixer/ssd_/attn_ keys) loads unchanged."""
    model = tiny_model(fusion="layer", rc="ps")
    path = model.save_pretrained(tmp_path / "old")
    meta = json.loads((path / "config.json").read_text())
    meta["model"] = {k: v for k, v in meta["model"].items() if not k.startswith(("mixer", "ssd_", "attn_"))}
    (path / "config.json").write_text(json.dumps(meta))
    loaded = GenomambaModel.from_pretrained(path, backend="ref")
    assert loaded.config.mixer_pattern == "MM"
    x = random_ids(2, 15)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("design", [("head", "none"), ("layer", "ps")])
def test_round_trip_of_hybrid(tmp_path, design):
    model = mixer_model("MMSA", *design)
    path = model.save_pretrained(tmp_path / "ckpt")
    assert json.loads((path / "config.json").read_text())["model"]["mixer"] == "MMSA"
    loaded = GenomambaModel.from_pretrained(path, backend="ref")
    x = random_ids(2, 19)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


# ------------------------------------------------------------------------------------ model symmetries


@pytest.mark.parametrize("design", [("layer", "ps"), ("head", "none"), ("layer", "posthoc")])
def test_every_pattern_is_rc_equivariant(pattern, design):
    fusion, rc = design
    model = mixer_model(pattern, fusion, rc)
    x = random_ids(2, 24)
    x[0, 5] = 4  # an N, its own complement
    with torch.no_grad():
        torch.testing.assert_close(model(rc_ids(x, TABLE)), rc_logits(model(x), TABLE), **TOL)
        if rc != "posthoc":
            torch.testing.assert_close(model.hidden_states(rc_ids(x, TABLE)), rc_hidden(model.hidden_states(x)), **TOL)


@pytest.mark.parametrize("design", DESIGNS, ids=lambda d: f"{d[0]}-{d[1]}")
def test_every_pattern_ignores_padding_and_packing(pattern, design):
    model = mixer_model(pattern, *design)
    seq = random_ids(1, 17)
    padded = torch.cat([torch.full((1, 3), PAD), seq, torch.full((1, 6), PAD)], dim=1)
    a, b = random_ids(1, 9, seed=5), random_ids(1, 14, seed=6)
    packed = torch.cat([a, b], dim=1)
    seq_idx = torch.cat([torch.zeros(1, 9, dtype=torch.long), torch.ones(1, 14, dtype=torch.long)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model(padded)[:, 3:-6], model(seq), **TOL)
        out = model(packed, seq_idx)
        torch.testing.assert_close(out[:, :9], model(a), **TOL)
        torch.testing.assert_close(out[:, 9:], model(b), **TOL)
        assert (model(packed)[:, 9:] - out[:, 9:]).abs().max() > 1e-4  # without seq_idx b does see a


@pytest.mark.parametrize("pattern_", ["S", "A", "SSA"])
def test_fusion_head_streams_see_only_their_side(pattern_):
    model = mixer_model(pattern_, "head")
    x = random_ids(1, 18)
    with torch.no_grad():
        left, right = model.fusion_context(x)
        for q in (0, 7, 17):
            y = x.clone()
            y[0, q] = (y[0, q] + 1) % 4
            left2, right2 = model.fusion_context(y)
            torch.testing.assert_close(left2[0, : q + 1], left[0, : q + 1], rtol=0, atol=1e-6)
            torch.testing.assert_close(right2[0, q:], right[0, q:], rtol=0, atol=1e-6)
            if q + 1 < 18:
                assert (left2[0, q + 1 :] - left[0, q + 1 :]).abs().max() > 1e-6


@pytest.mark.parametrize("design", [("head", "none"), ("layer", "ps")])
def test_checkpointing_gives_the_same_gradients(design):
    x = random_ids(2, 14)
    grads = []
    for checkpointing in (False, True):
        model = mixer_model("SSA", *design, checkpointing=checkpointing).train()
        F.cross_entropy(model(x).reshape(-1, 7), x.reshape(-1)).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and any("A_log" in n for n in grads[0])
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize("backend", ["cpu", "triton"])
def test_ssd_backends_match_ref_in_the_model(backend):
    if backend == "triton" and os.environ.get("TRITON_INTERPRET", "0") in ("", "0"):
        pytest.skip("triton on CPU tensors needs TRITON_INTERPRET=1 in the environment of pytest")
    x = random_ids(2, 37)
    seq_idx = torch.tensor([[0] * 20 + [1] * 17, [0] * 37])
    outs, grads = {}, {}
    for name in ("ref", backend):
        model = mixer_model("S", "layer", "ps", backend=name, n_layer=1).train()
        out = model(x, seq_idx)
        out.square().mean().backward()
        outs[name] = out.detach()
        grads[name] = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    torch.testing.assert_close(outs[backend], outs["ref"], rtol=1e-4, atol=1e-5)
    for name, g in grads["ref"].items():
        torch.testing.assert_close(grads[backend][name], g, rtol=1e-3, atol=1e-5, msg=name)


def _pattern_on(pattern_: str, device: str, backend: str):
    """Output and parameter gradients (fp32, on the CPU) of a packed batch through a ``pattern_`` stack."""
    x = random_ids(2, 257)
    seq_idx = torch.tensor([[0] * 100 + [1] * 157, [0] * 257])
    model = mixer_model(pattern_, "layer", "ps", backend=backend, attn_window=64).to(device).train()
    out = model(x.to(device), seq_idx.to(device))
    out.float().square().mean().backward()
    grads = {n: p.grad.float().cpu() for n, p in model.named_parameters() if p.grad is not None}
    return out.detach().float().cpu(), grads


def _assert_close_pattern(got, want, tol: float, grad_tol: float) -> None:
    torch.testing.assert_close(got[0], want[0], rtol=tol, atol=tol)
    assert got[1].keys() == want[1].keys() and any("A_log" in n for n in want[1])
    for name, g in want[1].items():
        err = float((got[1][name] - g).norm() / g.norm().clamp_min(1e-6))
        assert err < grad_tol, f"{name}: relative gradient error {err:.3g}"


@pytest.mark.parametrize("pattern_", ["SSA", "MMSA"])
def test_hybrid_stacks_on_the_cpu_kernels_match_ref(pattern_):
    """The fused CPU kernels under SSD, hybrid and mixed stacks (packed input, windowed attention) against the
    reference ops: the CPU twin of the CUDA test below."""
    _assert_close_pattern(_pattern_on(pattern_, "cpu", "cpu"), _pattern_on(pattern_, "cpu", "ref"), 1e-4, 1e-3)


@pytest.mark.gpu
@pytest.mark.parametrize("pattern_", ["S", "SSA", "MMSA"])
def test_mixer_stacks_on_cuda_match_the_cpu_reference(pattern_):
    """SSD, hybrid and mixed stacks on CUDA (Triton scans, bf16 autocast, the chunked gated norm, blockwise
    attention) against the fp32 CPU reference with the same weights: outputs and every parameter's gradient."""
    _assert_close_pattern(_pattern_on(pattern_, "cuda", "auto"), _pattern_on(pattern_, "cpu", "ref"), 5e-2, 0.1)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
def test_gated_rmsnorm_on_cuda_matches_its_reference(dtype):
    """The chunked gated norm on CUDA in each dtype against the fp32 reference on the same (rounded) inputs."""
    from genomamba.model.ssd_mixer import gated_rmsnorm, gated_rmsnorm_ref

    torch.manual_seed(2)
    y, proj, dout = (torch.randn(2, 1134, n).to(dtype) for n in (64, 160, 64))
    weight = 1 + 0.1 * torch.randn(64)

    def run(fn, device, cast, **kw):
        yy, pp = (t.to(device, cast).requires_grad_() for t in (y, proj))
        ww = weight.to(device).requires_grad_()
        out = fn(yy, pp[..., 32:96], ww, 4, 1e-5, **kw)
        return [t.double().cpu() for t in (out, *torch.autograd.grad(out, (yy, pp, ww), dout.to(device, cast)))]

    tol = {torch.float32: 1e-5, torch.bfloat16: 2e-2, torch.float16: 2e-3}[dtype]
    got, want = run(gated_rmsnorm, "cuda", dtype, chunk=500), run(gated_rmsnorm_ref, "cpu", torch.float32)
    for name, a, b in zip(("out", "dy", "dproj", "dweight"), got, want):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol * max(1.0, b.abs().max().item()), msg=name)


def test_ssd_weight_decay_flags():
    model = mixer_model("S", "layer", "ps")
    flagged = {n for n, p in model.named_parameters() if getattr(p, "_no_weight_decay", False)}
    assert flagged and all(n.endswith(("A_log", "D", "dt_bias")) for n in flagged)
    assert len(flagged) == 3 * 2 * 2  # A_log, D, dt_bias; two directions; two layers


# ------------------------------------------------------------------------------------------------- mixers


@pytest.mark.parametrize("gated_norm", [True, False])
def test_mamba2_reverse_equals_flipped_forward(gated_norm):
    torch.manual_seed(0)
    mixer = Mamba2Mixer(tiny_config(**MIXER_FIELDS, ssd_ngroups=2, ssd_gated_norm=gated_norm))
    h = torch.randn(2, 19, 16)
    torch.testing.assert_close(mixer(h, reverse=True), mixer(h.flip(1)).flip(1), rtol=1e-5, atol=1e-6)
    seq_idx = torch.tensor([[0] * 7 + [1] * 12, [0] * 19])
    torch.testing.assert_close(
        mixer(h, seq_idx, reverse=True), mixer(h.flip(1), seq_idx.flip(1)).flip(1), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("length", [1, 17, 372])
def test_gated_rmsnorm_matches_its_reference_forward_and_backward(length):
    """The fused gated norm (chunked, saving one rstd per position and group) against plain autograd, with chunks
    that split the sequence unevenly and z a strided view, as in the mixer."""
    from genomamba.model.ssd_mixer import gated_rmsnorm, gated_rmsnorm_ref

    torch.manual_seed(0)
    y = torch.randn(2, length, 12, requires_grad=True)
    proj = torch.randn(2, length, 30, requires_grad=True)
    weight = (1 + 0.1 * torch.randn(12)).requires_grad_()
    dout = torch.randn(2, length, 12)
    grads = []
    for fn, kw in ((gated_rmsnorm_ref, {}), (gated_rmsnorm, {"chunk": 5})):
        out = fn(y, proj[..., 7:19], weight, 3, 1e-5, **kw)
        grads.append((out, *torch.autograd.grad(out, (y, proj, weight), dout)))
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
    y64, z64, w64 = (t.detach().double().requires_grad_() for t in (y[:, :9], proj[:, :9, 7:19], weight))
    assert torch.autograd.gradcheck(lambda a, b, c: gated_rmsnorm(a, b, c, 2, 1e-5, chunk=4), (y64, z64, w64))


def test_gated_rmsnorm_bf16_within_tolerance():
    from genomamba.model.ssd_mixer import gated_rmsnorm, gated_rmsnorm_ref

    torch.manual_seed(1)
    y, z = torch.randn(1, 50, 16, dtype=torch.bfloat16), torch.randn(1, 50, 16, dtype=torch.bfloat16)
    w = torch.ones(16)
    out = gated_rmsnorm(y, z, w, 1, 1e-5, chunk=7)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), gated_rmsnorm_ref(y, z, w, 1, 1e-5).float(), rtol=2e-2, atol=2e-2)


def test_bidirectional_ssd_is_tied_and_hand_composed():
    torch.manual_seed(0)
    bi = BiMambaMixer(tiny_config(**MIXER_FIELDS), Mamba2Mixer)
    h = torch.randn(2, 17, 16)
    expected = bi.mixer_fwd(h) + bi.mixer_rev(h.flip(1)).flip(1)
    torch.testing.assert_close(bi(h), expected, rtol=1e-5, atol=1e-6)
    assert bi.mixer_rev.in_proj is bi.mixer_fwd.in_proj and bi.mixer_rev.A_log is not bi.mixer_fwd.A_log


def naive_attention(mixer: AttentionMixer, h, seq_idx, window):
    """softmax(q k^T / sqrt(d) + mask) v with the mixer's weights, one (L x L) matrix."""
    batch, length, d = h.shape
    q, k, v = mixer.qkv(h).view(batch, length, 3, mixer.n_heads, mixer.head_dim).permute(2, 0, 3, 1, 4)
    pos = torch.arange(length)
    q, k = rotary(q, pos), rotary(k, pos)
    diff = pos[:, None] - pos[None, :]
    allowed = (diff >= 0) if mixer.causal else torch.ones(length, length, dtype=torch.bool)
    if window is not None:
        allowed = allowed & (diff.abs() < window)
    allowed = allowed & (seq_idx[:, None, :, None] == seq_idx[:, None, None, :])
    scores = (q @ k.transpose(-1, -2) / mixer.head_dim**0.5).masked_fill(~allowed, float("-inf"))
    out = torch.softmax(scores, -1) @ v
    return mixer.out_proj(out.transpose(1, 2).reshape(batch, length, d))


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("window", [None, 5, 70])
def test_attention_matches_naive_masked_softmax(causal, window):
    torch.manual_seed(0)
    mixer = AttentionMixer(tiny_config(attn_n_heads=2, attn_window=window, mixer="A"), causal=causal)
    h = torch.randn(2, 150, 16)  # window 5 and 70: several query blocks of 64 and 70 positions
    seq_idx = torch.tensor([[0] * 60 + [1] * 90, [3] * 150])
    with torch.no_grad():
        torch.testing.assert_close(mixer(h, seq_idx), naive_attention(mixer, h, seq_idx, window), **TOL)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("block_max", [4096, 16])
def test_windowed_attention_gradients_match_naive(causal, block_max, monkeypatch):
    """Forward and every gradient of the blockwise windowed attention equal the one-matrix softmax, also when a
    window reaches across several key blocks (blocks capped below the window)."""
    import genomamba.model.attention as attention

    monkeypatch.setattr(attention, "QUERY_BLOCK_MAX", block_max)
    torch.manual_seed(0)
    mixer = AttentionMixer(tiny_config(attn_n_heads=2, attn_window=70, mixer="A"), causal=causal)
    h = torch.randn(2, 150, 16)
    seq_idx = torch.tensor([[0] * 60 + [1] * 90, [3] * 150])
    results = []
    for fn in (lambda x: mixer(x, seq_idx), lambda x: naive_attention(mixer, x, seq_idx, 70)):
        x = h.clone().requires_grad_(True)
        out = fn(x)
        results.append((out, *torch.autograd.grad(out.pow(2).sum(), [x, *mixer.parameters()])))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("causal", [True, False])
def test_windowed_attention_recomputes_blocks_with_the_same_gradients(causal, monkeypatch):
    """Above RECOMPUTE_BYTES the query blocks are checkpointed (for training at 1 Mbp): the outputs and every
    gradient equal the kept-blocks path. (Memory at 1 Mbp is measured by benchmarks/ssd.py.)"""
    import genomamba.model.attention as attention

    torch.manual_seed(0)
    mixer = AttentionMixer(tiny_config(attn_n_heads=2, attn_window=5, mixer="A"), causal=causal)
    h = torch.randn(2, 150, 16)
    seq_idx = torch.tensor([[0] * 60 + [1] * 90, [3] * 150])

    def run():
        x = h.clone().requires_grad_(True)
        out = mixer(x, seq_idx)
        out.pow(2).sum().backward()
        grads = [x.grad] + [p.grad.clone() for p in mixer.parameters()]
        mixer.zero_grad(set_to_none=True)
        return out.detach(), grads

    kept_out, kept = run()
    monkeypatch.setattr(attention, "RECOMPUTE_BYTES", 0)
    re_out, re_grads = run()
    torch.testing.assert_close(re_out, kept_out, rtol=0, atol=0)
    for a, b in zip(re_grads, kept):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_full_attention_refused_where_scores_cannot_fit():
    config = tiny_config(mixer="A", attn_n_heads=2)
    mixer = AttentionMixer(config, causal=False)
    length = 1 << 21  # (L x L) fp32 scores of 2 heads: 32 TiB
    with pytest.raises(GenomambaError, match=r"length 2,097,152 .*set model\.attn_window"):
        mixer(torch.empty(1, length, 16))
    model = mixer_model("A", "head")
    with pytest.raises(GenomambaError, match=r"full attention at length 2,097,152"), torch.no_grad():
        model(torch.zeros(1, length, dtype=torch.long))
    windowed = AttentionMixer(tiny_config(mixer="A", attn_n_heads=2, attn_window=8), causal=False)
    assert windowed(torch.randn(1, 40, 16)).shape == (1, 40, 16)  # the fix named in the message works
