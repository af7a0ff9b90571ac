"""The one train/val/test hold-out (genomamba.genome.splits), tested directly."""

from __future__ import annotations

import numpy as np
import pytest

from genomamba.errors import GenomambaError
from genomamba.genome.splits import explicit_hold_out, hold_out, label_map


def _weight(weights, labels, split) -> float:
    return sum(w for w, s in zip(weights, labels) if s == split)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("val_frac, test_frac", [(0.1, 0.1), (0.2, 0.05), (0.0, 0.3), (0.15, 0.0)])
def test_fractions_are_met_within_one_unit(seed, val_frac, test_frac):
    weights = [int(w) for w in np.random.default_rng(seed).integers(1, 500, 60)]
    result = hold_out(weights, val_frac, test_frac, seed)
    total, largest = sum(weights), max(weights)
    for split, frac in (("val", val_frac), ("test", test_frac)):
        got = _weight(weights, result.labels, split)
        assert got <= frac * total  # never above the target ...
        assert got > frac * total - largest  # ... and short of it by less than one unit
    assert result.empty == []
    assert set(result.labels) == {"train"} | {s for s, f in (("val", val_frac), ("test", test_frac)) if f}


def test_unit_weights_give_exact_counts():
    result = hold_out([1] * 100, 0.1, 0.2, seed=3)
    assert [result.labels.count(s) for s in ("train", "val", "test")] == [70, 10, 20]


def test_seeded_and_deterministic():
    weights = list(range(1, 41))
    a, b = hold_out(weights, 0.2, 0.2, seed=7), hold_out(weights, 0.2, 0.2, seed=7)
    assert a == b
    assert hold_out(weights, 0.2, 0.2, seed=8).labels != a.labels


def test_small_inputs_still_hold_out_and_keep_one_train_unit():
    # nothing fits 10% of three units: each asked-for split gets the smallest free unit, one stays in train
    result = hold_out([50, 10, 30], 0.1, 0.1, seed=0)
    assert sorted(result.labels) == ["test", "train", "val"] and result.labels[0] == "train"
    two = hold_out([5, 5], 0.1, 0.1, seed=0)
    assert two.labels.count("train") == 1 and two.empty == ["test"]
    assert hold_out([3], 0.3, 0.3, seed=0) == hold_out([3], 0.3, 0.3, seed=1)
    assert hold_out([3], 0.3, 0.3, seed=0).labels == ["train"]


def test_bad_fractions():
    with pytest.raises(ValueError, match="sum to < 1"):
        hold_out([1, 2], 0.5, 0.5, seed=0)
    with pytest.raises(ValueError, match=">= 0"):
        hold_out([1, 2], -0.1, 0.2, seed=0)


def test_explicit_names():
    units = ["chr1", "chr2", "chr3", "chrM"]
    result = explicit_hold_out(units, val=["chr2"], test=["chrM", "chrX"])
    assert label_map(units, result) == {"chr1": "train", "chr2": "val", "chr3": "train", "chrM": "test"}
    assert result.empty == []
    only_val = explicit_hold_out(units, val=["chr3"], test=[])
    assert only_val.empty == ["test"]
    with pytest.raises(GenomambaError, match="both val_chroms and test_chroms"):
        explicit_hold_out(units, val=["chr1"], test=["chr1"])
