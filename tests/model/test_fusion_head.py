"""fusion "head": p never sees x[p]; the left stream never sees the right; one pass scores every base."""

from __future__ import annotations

import torch

from genomamba.alphabet import MASK, N
from genomamba.model import nucleotide_log_probs, rc_ids

from .conftest import random_ids, tiny_model


def test_changing_x_p_changes_no_logit_at_p():
    model = tiny_model(fusion="head")
    L = 20
    x = random_ids(1, L)
    values = (0, 1, 2, 3, 4, 6)  # bases, N, [MASK] ([PAD] starts a new segment by design)
    # every single-position substitution as one batch: row (p, v) has x[p] = v
    variants = x.repeat(L * len(values), 1)
    positions = torch.arange(L).repeat_interleave(len(values))
    variants[torch.arange(len(variants)), positions] = torch.tensor(values).repeat(L)
    with torch.no_grad():
        base = model(x)[0]  # (L, V)
        out = model(variants)  # (L * len(values), L, V)
    rows = torch.arange(len(variants))
    # equal up to float rounding of a different batch size (a dependence on x[p] would be ~1e-2)
    torch.testing.assert_close(out[rows, positions], base[positions], rtol=0, atol=1e-6)
    # ...while other positions do change when the base changes (x[p] is not ignored altogether)
    changed = variants[rows, positions] != x[0, positions]
    assert ((out[changed] - base).abs().amax(dim=(1, 2)) > 1e-6).all()


def test_streams_see_only_their_side():
    model = tiny_model(fusion="head")
    x = random_ids(1, 18)
    with torch.no_grad():
        left, right = model.fusion_context(x)
        for q in (0, 7, 17):
            y = x.clone()
            y[0, q] = (y[0, q] + 1) % 4
            left2, right2 = model.fusion_context(y)
            # left[p] reads x[<p]: unchanged for p <= q; right[p] reads x[>p]: unchanged for p >= q
            torch.testing.assert_close(left2[0, : q + 1], left[0, : q + 1], rtol=0, atol=0)
            torch.testing.assert_close(right2[0, q:], right[0, q:], rtol=0, atol=0)
            if q + 1 < 18:
                assert (left2[0, q + 1 :] - left[0, q + 1 :]).abs().max() > 0
            if q > 0:
                assert (right2[0, :q] - right[0, :q]).abs().max() > 0


def test_one_pass_equals_position_by_position_scoring():
    model = tiny_model(fusion="head")
    x = random_ids(2, 16)
    with torch.no_grad():
        one_pass = nucleotide_log_probs(model, x)  # (B, L, 4)
        assert one_pass.shape == (2, 16, 4)
        torch.testing.assert_close(one_pass.exp().sum(-1), torch.ones(2, 16))
        for p in range(16):
            # score position p alone: hide the base (MASK) and read the distribution at p
            hidden = x.clone()
            hidden[:, p] = MASK
            torch.testing.assert_close(nucleotide_log_probs(model, hidden)[:, p], one_pass[:, p], rtol=0, atol=0)
            # ...or from scratch: run the stack on x[:p] and rc(x[p+1:]), feed the head their last states
            torch.testing.assert_close(_score_alone(model, x, p), one_pass[:, p], rtol=1e-5, atol=1e-5)


def _score_alone(model, x, p):
    """log p(x[p] | x[<p], x[>p]) from two separate causal runs over the left and the right context only."""
    backbone, head = model.backbone, model.fusion_head
    B, L = x.shape
    start = head.start.expand(B, -1)
    left = backbone(x[:, :p])[:, -1] if p > 0 else start
    right = backbone(rc_ids(x[:, p + 1 :], model.complement))[:, -1] if p < L - 1 else start
    logits = head.logits(left[:, None], right[:, None], backbone.embedding_weight)[:, 0, :4]
    return torch.log_softmax(logits, dim=-1)


def test_edges_use_the_start_state():
    model = tiny_model(fusion="head")
    x = random_ids(1, 9)
    x[0, 3] = N
    with torch.no_grad():
        left, right = model.fusion_context(x)
        start = model.fusion_head.start
        torch.testing.assert_close(left[0, 0], start)
        torch.testing.assert_close(right[0, -1], start)
        seq_idx = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1, 1]])
        left, right = model.fusion_context(x, seq_idx)
        torch.testing.assert_close(left[0, 4], start)  # first base of the second packed sequence
        torch.testing.assert_close(right[0, 3], start)  # last base of the first


def test_head_slices_equal_one_evaluation():
    """Long windows run the position-wise head in slices (with checkpointing: recomputed per slice)."""
    model = tiny_model(fusion="head")
    x = random_ids(2, 23)
    seq_idx = torch.tensor([[0] * 10 + [1] * 13, [0] * 23])
    with torch.no_grad():
        whole = model(x, seq_idx)
        model.fusion_head.chunk = 4  # slices that cut through a sequence boundary and leave a short tail
        torch.testing.assert_close(model(x, seq_idx), whole, rtol=0, atol=1e-6)
    model.config.checkpointing = True
    model.train()
    model(x, seq_idx).sum().backward()
    assert model.fusion_head.fc1.weight.grad.abs().sum() > 0
