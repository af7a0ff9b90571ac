"""k-mer baselines for pretraining: smoothed Markov models fitted on the train split, scored on the val/test
tiles.

Two families, so a user sees at once whether a model learned more than k-mer statistics:

* one-sided order k (k = 0..8): P(x_p | x_{p-k} .. x_{p-1}), the classic Markov chain;
* two-sided order k (k = 1..4): P(x_p | x_{p-k} .. x_{p-1}, x_{p+1} .. x_{p+k}), what a bidirectional model sees
  at its nearest positions.

Counting is vectorised: a k-mer context is a base-4 integer code built from shifted copies of the token array,
and ``np.bincount(code * 4 + target)`` fills the (4**ctx, 4) table in one pass. Train counts use both strands
(the model trains on both). Smoothing is hierarchical: order k is a Dirichlet prior (strength ``alpha``)
centred on order k-1, order 0 on the uniform distribution; ``alpha`` is chosen per order by 2-fold cross-
validation on the train split (``evaluate_baselines(alpha=None)``), never on val/test. A context crossing N, a
window edge or a tile edge backs off to the longest clean context (a model scoring a tile cannot see past it
either), so every non-N position gets a prediction.

The two-sided family is also the variant-scoring baseline (``vep.scorers.KmerScorer``, via ``context_log2_probs``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from genomamba.alphabet import reverse_complement

ONE_SIDED_ORDERS = tuple(range(0, 9))
TWO_SIDED_ORDERS = tuple(range(1, 5))


def _clean_runs(seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lengths of the clean (A/C/G/T) runs ending just before p and starting just after p, per position (L,)."""
    ok = seq < 4
    n = seq.size
    # left[p] = number of consecutive clean bases in seq[..p-1] ending at p-1
    idx = np.arange(n)
    last_bad = np.maximum.accumulate(np.where(~ok, idx, -1))  # last bad index <= p
    left = np.empty(n, dtype=np.int64)
    left[0] = 0
    left[1:] = idx[:-1] - last_bad[:-1]
    # right[p] = number of consecutive clean bases in seq[p+1..] starting at p+1
    next_bad = np.minimum.accumulate(np.where(~ok, idx, n)[::-1])[::-1]  # first bad index >= p
    right = np.empty(n, dtype=np.int64)
    right[-1] = 0
    right[:-1] = next_bad[1:] - idx[1:]
    return left, right


def _left_codes(seq: np.ndarray, k: int) -> np.ndarray:
    """Code of the k bases before p: sum_i x[p-i] * 4**(i-1), i = 1..k (nearest base least significant) (L,).

    Positions with fewer than k clean bases before them get garbage codes; callers mask them by run length.
    """
    s = np.where(seq < 4, seq, 0).astype(np.int64)
    code = np.zeros(seq.size, dtype=np.int64)
    for i in range(1, k + 1):
        code[i:] += s[:-i] * (4 ** (i - 1))
    return code


def _right_codes(seq: np.ndarray, k: int) -> np.ndarray:
    """Code of the k bases after p: sum_i x[p+i] * 4**(i-1), i = 1..k (L,)."""
    s = np.where(seq < 4, seq, 0).astype(np.int64)
    code = np.zeros(seq.size, dtype=np.int64)
    for i in range(1, k + 1):
        code[:-i] += s[i:] * (4 ** (i - 1))
    return code


def _codes(seq: np.ndarray, k: int, two_sided: bool) -> np.ndarray:
    if k == 0:
        return np.zeros(seq.size, dtype=np.int64)
    if not two_sided:
        return _left_codes(seq, k)
    return _left_codes(seq, k) * (4**k) + _right_codes(seq, k)


def _parent_codes(k: int, two_sided: bool) -> np.ndarray:
    """For each order-k context code, the code of its order-(k-1) context (the farthest base(s) dropped)."""
    if two_sided:
        codes = np.arange(4 ** (2 * k), dtype=np.int64)
        lc, rc = codes // (4**k), codes % (4**k)
        m = 4 ** (k - 1)
        return (lc % m) * m + rc % m
    return np.arange(4**k, dtype=np.int64) % (4 ** (k - 1))


@dataclass
class KmerModel:
    """Smoothed order-0..``max_order`` models of one family; ``log2_probs[k]`` has shape (n_contexts_k, 4)."""

    two_sided: bool
    max_order: int
    alpha: float
    log2_probs: list[np.ndarray]
    n_train_bases: int


def count_kmers(segments: Iterable[np.ndarray], max_order: int, two_sided: bool, both_strands: bool = True):
    """Counts per order, ``counts[k]`` (4**ctx_k, 4) int64, and the number of counted bases.

    Contexts never cross a segment end or an N.
    """
    ctx = [4 ** (2 * k if two_sided else k) for k in range(max_order + 1)]
    counts = [np.zeros(c * 4, dtype=np.int64) for c in ctx]
    n_bases = 0
    for seg in segments:
        seg = np.asarray(seg, dtype=np.uint8)
        strands = (seg, reverse_complement(seg)) if both_strands else (seg,)
        for s in strands:
            if s.size == 0:
                continue
            left, right = _clean_runs(s)
            target_ok = s < 4
            n_bases += int(target_ok.sum())
            for k in range(max_order + 1):
                avail = np.minimum(left, right) if two_sided else left
                sel = target_ok & (avail >= k)
                code = _codes(s, k, two_sided)[sel]
                counts[k] += np.bincount(code * 4 + s[sel], minlength=ctx[k] * 4)
    return [c.reshape(-1, 4) for c in counts], n_bases


def smooth(counts: list[np.ndarray], two_sided: bool, alpha: float, n_bases: int = 0) -> KmerModel:
    """Hierarchical Dirichlet smoothing: P_k = (n_k + alpha * P_{k-1}(parent)) / (N_k + alpha), P_{-1} uniform."""
    log2_probs = []
    probs = np.full((1, 4), 0.25)
    for k, n in enumerate(counts):
        prior = probs if k == 0 else probs[_parent_codes(k, two_sided)]  # (ctx_k, 4) from order k-1
        n = n.astype(np.float64)
        probs = (n + alpha * prior) / (n.sum(axis=1, keepdims=True) + alpha)
        log2_probs.append(np.log2(probs))
    return KmerModel(two_sided, len(counts) - 1, float(alpha), log2_probs, n_bases)


def fit_kmer(
    segments: Iterable[np.ndarray], max_order: int, two_sided: bool, alpha: float = 1.0, both_strands: bool = True
) -> KmerModel:
    """Count every order 0..max_order on the token segments (uint8 (L,) each) and smooth with ``alpha``."""
    counts, n_bases = count_kmers(segments, max_order, two_sided, both_strands)
    return smooth(counts, two_sided, alpha, n_bases)


def context_log2_probs(model: KmerModel, seq: np.ndarray, order: int) -> np.ndarray:
    """log2 P(b | context of p) for every position p and base b of ``seq`` (L,) -> (L, 4).

    Each position uses the longest clean context up to ``order`` (backing off where the sequence edge or an N cuts
    it); the row never depends on x[p] itself, so it is defined at N positions too.
    """
    seq = np.asarray(seq, dtype=np.uint8)
    left, right = _clean_runs(seq)
    avail = np.minimum(left, right) if model.two_sided else left
    use = np.minimum(avail, order)
    out = np.empty((seq.size, 4), dtype=np.float64)
    for k in range(order + 1):
        sel = use == k
        if sel.any():
            out[sel] = model.log2_probs[k][_codes(seq, k, model.two_sided)[sel]]
    return out


def score_tile(model: KmerModel, tile: np.ndarray, order: int) -> np.ndarray:
    """-log2 P(x_p) under ``order`` (backing off where the tile edge or an N cuts the context) (L,).

    N positions (not targets) get NaN.
    """
    tile = np.asarray(tile, dtype=np.uint8)
    lp = context_log2_probs(model, tile, order)
    out = np.full(tile.size, np.nan)
    target_ok = tile < 4
    out[target_ok] = -lp[np.flatnonzero(target_ok), tile[target_ok]]
    return out


@dataclass
class BaselineResult:
    name: str  # e.g. "one_sided_k3"
    two_sided: bool
    order: int
    bits_per_base: float
    n_positions: int
    alpha: float
    # over the positions that are not soft-masked (repeats), when evaluate_baselines got ``masks``
    bits_per_base_unmasked: float | None = None


ALPHA_GRID = (0.5, 2.0, 8.0, 32.0, 128.0, 512.0)


def _mean_bits(
    model: KmerModel, tiles: Sequence[np.ndarray], order: int, masks: Sequence[np.ndarray] | None = None
) -> tuple[float, int, float | None]:
    """(mean bits over non-N targets, their count, the mean over those of them not flagged in ``masks``)."""
    total, count, total_u, count_u = 0.0, 0, 0.0, 0
    for i, tile in enumerate(tiles):
        bits = score_tile(model, tile, order)
        ok = ~np.isnan(bits)
        total += float(bits[ok].sum())
        count += int(ok.sum())
        if masks is not None:
            keep = ok & ~np.asarray(masks[i], dtype=bool)
            total_u += float(bits[keep].sum())
            count_u += int(keep.sum())
    mean = total / count if count else float("nan")
    if masks is None:
        return mean, count, None
    return mean, count, (total_u / count_u if count_u else float("nan"))


def choose_alpha(
    train_segments: Sequence[np.ndarray], max_order: int, two_sided: bool, grid=ALPHA_GRID
) -> dict[int, float]:
    """Smoothing strength per order by 2-fold cross-validation over the train segments (alternate segments).

    The held-out log-likelihood of one fold under the other fold's model is a dot product of count tables, so
    each grid point costs one smoothing pass. Val/test are never looked at.
    """
    folds = [list(train_segments[0::2]), list(train_segments[1::2])]
    if not folds[1]:
        return dict.fromkeys(range(max_order + 1), 1.0)
    fold_counts = [count_kmers(f, max_order, two_sided)[0] for f in folds]
    best: dict[int, tuple[float, float]] = {}
    for alpha in grid:
        models = [smooth(c, two_sided, alpha) for c in fold_counts]
        for k in range(max_order + 1):
            bits = sum(-float((fold_counts[1 - i][k] * models[i].log2_probs[k]).sum()) for i in (0, 1))
            n = sum(int(fold_counts[i][k].sum()) for i in (0, 1))
            total = bits / max(n, 1)
            if k not in best or total < best[k][0]:
                best[k] = (total, alpha)
    return {k: a for k, (_, a) in best.items()}


def evaluate_baselines(
    train_segments: Sequence[np.ndarray],
    tiles: Sequence[np.ndarray] | dict[str, Sequence[np.ndarray]],
    one_sided_orders: Sequence[int] = ONE_SIDED_ORDERS,
    two_sided_orders: Sequence[int] = TWO_SIDED_ORDERS,
    alpha: float | None = 1.0,
    masks: Sequence[np.ndarray] | dict[str, Sequence[np.ndarray]] | None = None,
) -> list[BaselineResult] | dict[str, list[BaselineResult]]:
    """Fit both families on ``train_segments``; mean bits/base over every non-N position of ``tiles``.

    ``alpha=None`` picks the smoothing strength per family and order by cross-validation on the train split.
    ``tiles`` may be a dict of named tile lists (e.g. val/test), scored with the same fitted models.
    ``masks`` (shaped as ``tiles``: one bool array per tile, True = soft-masked repeat) adds each result's
    ``bits_per_base_unmasked`` over the non-N positions that are not flagged.
    """
    named = tiles if isinstance(tiles, dict) else {"": tiles}
    named_masks = (masks if isinstance(masks, dict) else {"": masks}) if masks is not None else {}
    out: dict[str, list[BaselineResult]] = {name: [] for name in named}
    for two_sided, orders in ((False, one_sided_orders), (True, two_sided_orders)):
        if not orders:
            continue
        top = max(orders)
        if alpha is None:
            alphas = choose_alpha(train_segments, top, two_sided)
        else:
            alphas = dict.fromkeys(range(top + 1), float(alpha))
        counts, n_bases = count_kmers(train_segments, top, two_sided)
        models = {a: smooth(counts, two_sided, a, n_bases) for a in set(alphas[k] for k in orders)}
        for k in orders:
            for name, ts in named.items():
                bpb, count, bpb_u = _mean_bits(models[alphas[k]], ts, k, named_masks.get(name))
                label = f"{'two' if two_sided else 'one'}_sided_k{k}"
                out[name].append(BaselineResult(label, two_sided, k, bpb, count, alphas[k], bpb_u))
    return out if isinstance(tiles, dict) else out[""]
