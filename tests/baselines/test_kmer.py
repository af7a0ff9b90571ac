"""k-mer baselines: vectorised counting equals a plain dictionary count; smoothing, backoff and N handling."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from genomamba.alphabet import reverse_complement
from genomamba.baselines.kmer import evaluate_baselines, fit_kmer, score_tile


def _naive_log2p(train: list[np.ndarray], tile: np.ndarray, order: int, two_sided: bool, alpha: float) -> list:
    """Reference: dictionary counts, recursive Dirichlet backoff, per-position context truncation."""
    counts: dict[int, Counter] = {k: Counter() for k in range(order + 1)}
    for seg in train:
        for s in (list(seg), list(reverse_complement(seg))):
            for p, x in enumerate(s):
                if x >= 4:
                    continue
                for k in range(order + 1):
                    lo, hi = p - k, p + (k if two_sided else 0)
                    if lo < 0 or hi >= len(s):
                        continue
                    ctx = tuple(s[lo:p]) + (tuple(s[p + 1 : hi + 1]) if two_sided else ())
                    if any(c >= 4 for c in ctx):
                        continue
                    counts[k][(ctx, x)] += 1

    def prob(ctx_left: tuple, ctx_right: tuple, x: int, k: int) -> float:
        prior = 0.25 if k == 0 else prob(ctx_left[1:], ctx_right[:-1] if two_sided else (), x, k - 1)
        ctx = ctx_left + ctx_right
        n_x = counts[k][(ctx, x)]
        n = sum(counts[k][(ctx, b)] for b in range(4))
        return (n_x + alpha * prior) / (n + alpha)

    out = []
    t = list(tile)
    for p, x in enumerate(t):
        if x >= 4:
            out.append(None)
            continue
        k = order
        while True:
            lo, hi = p - k, p + (k if two_sided else 0)
            ok = lo >= 0 and hi < len(t) and all(c < 4 for c in t[lo:p] + (t[p + 1 : hi + 1] if two_sided else []))
            if ok:
                break
            k -= 1
        left = tuple(t[p - k : p])
        right = tuple(t[p + 1 : p + 1 + k]) if two_sided else ()
        out.append(-math.log2(prob(left, right, x, k)))
    return out


@pytest.mark.parametrize("two_sided,order", [(False, 0), (False, 3), (True, 1), (True, 2)])
def test_matches_naive_counting(two_sided, order):
    rng = np.random.default_rng(0)
    train = [rng.integers(0, 4, 300).astype(np.uint8), rng.integers(0, 5, 120).astype(np.uint8)]
    tile = rng.integers(0, 5, 60).astype(np.uint8)
    model = fit_kmer(train, order, two_sided, alpha=0.7)
    got = score_tile(model, tile, order)
    want = _naive_log2p(train, tile, order, two_sided, alpha=0.7)
    for g, w in zip(got, want):
        if w is None:
            assert np.isnan(g)
        else:
            assert g == pytest.approx(w, rel=1e-9)


def test_probabilities_normalised_and_learn_structure():
    # a period-4 sequence is perfectly predictable from one preceding base: bits/base -> ~0 at order >= 1
    seq = np.tile(np.array([0, 1, 2, 3], dtype=np.uint8), 500)
    model = fit_kmer([seq], 2, two_sided=False, alpha=1.0)
    for lp in model.log2_probs:
        np.testing.assert_allclose(np.exp2(lp).sum(axis=1), 1.0)
    res = {r.name: r for r in evaluate_baselines([seq], [seq[:200]], (0, 1, 2), (1,))}
    assert res["one_sided_k0"].bits_per_base == pytest.approx(2.0, abs=1e-3)
    assert res["one_sided_k1"].bits_per_base < 0.02  # position 0 has no context: 2 bits / 200
    assert res["two_sided_k1"].bits_per_base < 0.03
    assert res["one_sided_k1"].n_positions == 200


def test_n_is_never_a_target():
    rng = np.random.default_rng(1)
    train = [rng.integers(0, 4, 500).astype(np.uint8)]
    tile = rng.integers(0, 4, 50).astype(np.uint8)
    tile[[0, 10, 11, 49]] = 4
    res = evaluate_baselines(train, [tile], (0, 4), (2,))
    assert all(r.n_positions == 46 for r in res)
    assert all(np.isfinite(r.bits_per_base) for r in res)


def test_unmasked_bits_average_only_the_non_repeat_targets():
    rng = np.random.default_rng(3)
    train = [rng.integers(0, 4, 800).astype(np.uint8)]
    tiles = [rng.integers(0, 5, 60).astype(np.uint8) for _ in range(3)]
    masks = [rng.random(60) < 0.4 for _ in range(3)]
    res = evaluate_baselines(train, {"test": tiles}, (2,), (1,), masks={"test": masks})["test"]
    for r in res:
        model = fit_kmer(train, r.order, r.two_sided, alpha=1.0)
        bits = np.concatenate([score_tile(model, t, r.order) for t in tiles])
        keep = ~np.isnan(bits) & ~np.concatenate(masks)
        assert r.bits_per_base_unmasked == pytest.approx(bits[keep].mean())
        assert r.bits_per_base == pytest.approx(np.nanmean(bits))  # the all-base mean is unchanged
    assert all(r.bits_per_base_unmasked is None for r in evaluate_baselines(train, tiles, (2,), (1,)))


@pytest.mark.parametrize("two_sided,order", [(False, 2), (True, 2)])
def test_context_log2_probs_rows_are_distributions_blind_to_the_target(two_sided, order):
    from genomamba.baselines.kmer import context_log2_probs

    rng = np.random.default_rng(2)
    model = fit_kmer([rng.integers(0, 4, 800).astype(np.uint8)], order, two_sided, alpha=0.5)
    seq = rng.integers(0, 5, 90).astype(np.uint8)
    lp = context_log2_probs(model, seq, order)
    np.testing.assert_allclose(np.exp2(lp).sum(axis=1), 1.0)
    ok = seq < 4
    np.testing.assert_array_equal(-lp[np.flatnonzero(ok), seq[ok]], score_tile(model, seq, order)[ok])
    other = seq.copy()
    other[40] = (seq[40] + 1) % 4  # changing x[p] leaves row p alone (the context excludes the target)
    np.testing.assert_array_equal(context_log2_probs(model, other, order)[40], lp[40])
