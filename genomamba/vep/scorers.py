"""Per-position nucleotide log-probability providers for variant scoring.

A scorer maps token windows (uint8 (L_i,), ids 0-6) to (L_i, 4) natural-log probabilities of A, C, G, T and
declares its ``fusion``: "head" means the prediction at p never sees x[p] (one pass scores every position of a
window), "layer" means the caller has to put [MASK] at the scored position.

* ``ModelScorer``: a genomamba checkpoint (``nucleotide_log_probs``), windows batched by length and padded with
  [PAD] (the model gives padding its own segment, so it never changes real positions).
* ``KmerScorer``: the trivial baseline, a two-sided k-mer model P(x_p | k bases left, k bases right) counted on
  both strands of the reference itself, with hierarchical add-alpha smoothing (order k shrinks to order k-1) and
  back-off to the longest clean context at N bases and window edges. Like fusion "head" it never sees x[p].
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np

from genomamba.alphabet import reverse_complement

log = logging.getLogger(__name__)


class ModelScorer:
    def __init__(self, model, batch_size: int, device: str = "cpu"):
        self.model = model.eval()
        self.fusion = model.config.fusion
        self.rc_equivariant = model.config.rc_symmetric_inference  # one strand then gives both strands' scores
        self.batch_size = max(1, int(batch_size))
        self.device = device
        self.n_forward = 0  # forward passes (batches) run
        self.n_sequences = 0  # windows scored

    def log_probs(self, windows: list[np.ndarray]) -> list[np.ndarray]:
        """windows: list of uint8 (L_i,) -> list of float32 (L_i, 4)."""
        import torch

        from genomamba.model import nucleotide_log_probs
        from genomamba.model.batching import length_batches, pad_batch

        out: list[np.ndarray | None] = [None] * len(windows)
        with torch.inference_mode():
            for idx in length_batches(windows, self.batch_size):  # similar lengths share a batch
                ids = pad_batch([windows[i] for i in idx]).to(self.device)
                lp = nucleotide_log_probs(self.model, ids).float().cpu().numpy()  # (B, width, 4)
                for row, i in enumerate(idx):
                    out[i] = lp[row, : len(windows[i])]
                self.n_forward += 1
                self.n_sequences += len(idx)
        return out  # type: ignore[return-value]


def _runs(seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(left, right): number of consecutive A/C/G/T bases just before / just after each position (L,)."""
    ok = seq < 4
    n = seq.size
    idx = np.arange(n)
    last_bad = np.maximum.accumulate(np.where(~ok, idx, -1))
    left = np.zeros(n, dtype=np.int64)
    left[1:] = idx[:-1] - last_bad[:-1]
    next_bad = np.minimum.accumulate(np.where(~ok, idx, n)[::-1])[::-1]
    right = np.zeros(n, dtype=np.int64)
    right[:-1] = next_bad[1:] - idx[1:]
    return left, right


def _context_codes(seq: np.ndarray, k: int) -> np.ndarray:
    """Code of (x[p-k..p-1], x[p+1..p+k]) as a base-4 integer (L,); garbage where fewer than k clean bases."""
    s = np.where(seq < 4, seq, 0).astype(np.int64)
    code = np.zeros(seq.size, dtype=np.int64)
    for i in range(k, 0, -1):  # left bases x[p-k] .. x[p-1], farthest most significant
        shifted = np.zeros(seq.size, dtype=np.int64)
        shifted[i:] = s[:-i]
        code = code * 4 + shifted
    for i in range(1, k + 1):  # then right bases x[p+1] .. x[p+k], nearest most significant
        shifted = np.zeros(seq.size, dtype=np.int64)
        shifted[:-i] = s[i:]
        code = code * 4 + shifted
    return code


class KmerScorer:
    fusion = "head"
    rc_equivariant = True  # counts from both strands: P(b | L, R) = P(comp b | rc R, rc L)

    def __init__(self, k: int, alpha: float = 1.0):
        if not 1 <= k <= 6:
            raise ValueError(f"k-mer baseline order must be 1..6, got {k}")
        self.k = k
        self.alpha = float(alpha)
        self.tables: list[np.ndarray] = []  # order j -> (4**(2j), 4) natural-log probabilities
        self.n_forward = 0
        self.n_sequences = 0

    def fit(self, segments: Iterable[np.ndarray]) -> KmerScorer:
        """Count contexts on both strands of every segment (uint8 tokens; contexts never cross N)."""
        counts = [np.zeros(4 ** (2 * j) * 4, dtype=np.int64) for j in range(self.k + 1)]
        for seg in segments:
            for s in (seg, reverse_complement(seg)):
                s = np.ascontiguousarray(s)
                left, right = _runs(s)
                avail = np.minimum(left, right)
                ok = s < 4
                for j in range(self.k + 1):
                    sel = ok & (avail >= j)
                    code = _context_codes(s, j)[sel]
                    counts[j] += np.bincount(code * 4 + s[sel], minlength=counts[j].size)
        probs = np.full((1, 4), 0.25)
        self.tables = []
        for j in range(self.k + 1):
            n = counts[j].reshape(-1, 4).astype(np.float64)
            if j == 0:
                prior = probs
            else:
                # parent context drops the farthest base on each side: code = L(j bases) * 4**j + R(j bases)
                codes = np.arange(4 ** (2 * j), dtype=np.int64)
                lc, rc = codes // 4**j, codes % 4**j
                parent = (lc % 4 ** (j - 1)) * 4 ** (j - 1) + rc // 4
                prior = probs[parent]
            probs = (n + self.alpha * prior) / (n.sum(axis=1, keepdims=True) + self.alpha)
            self.tables.append(np.log(probs).astype(np.float32))
        return self

    def log_probs(self, windows: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for w in windows:
            w = np.asarray(w, dtype=np.uint8)
            left, right = _runs(w)
            use = np.minimum(np.minimum(left, right), self.k)
            lp = np.empty((w.size, 4), dtype=np.float32)
            for j in range(self.k + 1):
                sel = use == j
                if sel.any():
                    lp[sel] = self.tables[j][_context_codes(w, j)[sel]]
            out.append(lp)
            self.n_sequences += 1
        self.n_forward += 1
        return out
