"""Boundary-aware causal conv: equals the library conv, mirrors for reverse, never crosses segments."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genomamba.model.conv import causal_conv1d


def _inputs(seed=0, B=2, D=5, L=23, K=4):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, L, D, generator=g), torch.randn(D, K, generator=g), torch.randn(D, generator=g)


def _library_conv(x, w, b):
    """PyTorch's depthwise Conv1d on a left-padded (B, D, L) copy: the definition of a causal conv."""
    out = F.conv1d(F.pad(x.transpose(1, 2), (w.shape[1] - 1, 0)), w.unsqueeze(1), b, groups=w.shape[0])
    return out.transpose(1, 2)


def test_forward_matches_padded_library_conv():
    x, w, b = _inputs()
    one_segment = torch.zeros(x.shape[0], x.shape[1], dtype=torch.long)
    torch.testing.assert_close(causal_conv1d(x, w, b), _library_conv(x, w, b))
    torch.testing.assert_close(causal_conv1d(x, w, b, seq_idx=one_segment), _library_conv(x, w, b))
    # a strided view (as the mixer passes: half of in_proj's output) gives the same result
    wide = torch.cat([x, torch.randn_like(x)], dim=-1)
    torch.testing.assert_close(causal_conv1d(wide[..., : x.shape[-1]], w, b), _library_conv(x, w, b))


def test_reverse_is_flip_conv_flip():
    x, w, b = _inputs(1)
    expected = _library_conv(x.flip(1), w, b).flip(1)
    one_segment = torch.zeros(x.shape[0], x.shape[1], dtype=torch.long)
    torch.testing.assert_close(causal_conv1d(x, w, b, reverse=True), expected)
    torch.testing.assert_close(causal_conv1d(x, w, b, seq_idx=one_segment, reverse=True), expected)


def test_segments_are_convolved_independently():
    x, w, b = _inputs(2, B=1, L=20)
    # three segments; the label 0 repeats, which still counts as a new segment after the change
    seq_idx = torch.tensor([[0] * 7 + [3] * 2 + [0] * 11])
    bounds = [(0, 7), (7, 9), (9, 20)]
    for reverse in (False, True):
        out = causal_conv1d(x, w, b, seq_idx=seq_idx, reverse=reverse)
        for lo, hi in bounds:
            alone = causal_conv1d(x[:, lo:hi], w, b, reverse=reverse)
            torch.testing.assert_close(out[:, lo:hi], alone)


def test_shorter_than_kernel_and_gradients():
    x, w, b = _inputs(3, L=2)
    torch.testing.assert_close(causal_conv1d(x, w, b), _library_conv(x, w, b))
    x, w, b = (t.clone().requires_grad_() for t in _inputs(4, L=9))
    seq_idx = torch.tensor([[0] * 4 + [1] * 5] * 2)
    torch.autograd.gradcheck(
        lambda *a: causal_conv1d(*a, seq_idx=seq_idx, reverse=True), (x.double(), w.double(), b.double())
    )
