"""Fast ranking metrics equal scikit-learn's on tied data; the bootstrap resamples within chromosomes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from genomamba.metrics.ranking import auprc, auroc, bootstrap_ci, finite


@pytest.mark.parametrize("seed", range(5))
def test_auroc_auprc_match_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    y = rng.integers(0, 2, n)
    s = rng.integers(0, 6, n).astype(float) + 0.5 * y  # few distinct values: heavy ties, some signal
    assert np.unique(s).size < n // 2
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert auprc(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    s = rng.normal(size=n)  # and without ties
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert auprc(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_one_class_is_undefined():
    y, s = np.ones(5, dtype=int), np.arange(5.0)
    assert np.isnan(auroc(y, s)) and np.isnan(auprc(y, s))
    assert np.isnan(auroc(1 - y, s)) and np.isnan(auprc(1 - y, s))
    assert finite(auroc(y, s)) is None and finite(None) is None and finite(float("inf")) is None
    assert finite(0.1234567891, 6) == 0.123457 and finite(np.float32(0.5)) == 0.5


def test_bootstrap_ci_brackets_the_estimate_and_keeps_strata():
    rng = np.random.default_rng(0)
    n = 600
    y = rng.integers(0, 2, n)
    s = rng.normal(size=n) + y
    chrom = np.array(["a", "b", "c"])[rng.integers(0, 3, n)]
    ci = bootstrap_ci(y, s, chrom, n_boot=200, seed=1)
    assert ci["n_boot_valid"] == 200
    assert ci["auroc_ci"][0] < auroc(y, s) < ci["auroc_ci"][1]
    assert ci["auprc_ci"][0] < auprc(y, s) < ci["auprc_ci"][1]
    assert bootstrap_ci(y, s, chrom, n_boot=200, seed=1) == ci  # seeded
    # one chromosome holds every positive, another every negative: each replicate keeps both, so all are valid
    y2 = np.r_[np.ones(30, dtype=int), np.zeros(30, dtype=int)]
    chrom2 = np.r_[["p"] * 30, ["n"] * 30]
    assert bootstrap_ci(y2, rng.normal(size=60), chrom2, n_boot=50, seed=0)["n_boot_valid"] == 50
    assert bootstrap_ci(y, s, chrom, n_boot=5, seed=0)["auroc_ci"] is None  # too few replicates for a CI
