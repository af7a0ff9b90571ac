"""Allele classification, allele trimming, indel span and the mirror-symmetric window layout."""

from __future__ import annotations

import numpy as np
import pytest

from genomamba.alphabet import encode
from genomamba.vep.alleles import allele_kind, equivalent_span, make_tiling, trim_alleles


@pytest.mark.parametrize(
    "ref, alt, kind, flag",
    [
        ("A", "G", "snv", None),
        ("AC", "AT", "snv", None),  # trims to a single-base change
        ("AC", "GT", "mnv", None),
        ("A", "AT", "ins", None),
        ("AT", "A", "del", None),
        ("ACG", "TT", "complex", None),
        ("A", "<DEL>", "symbolic", "SYMBOLIC"),
        ("A", "*", "spanning_deletion", "SPANNING_DELETION"),
        ("A", "A[chr2:100[", "breakend", "BREAKEND"),
        ("A", ".A", "breakend", "BREAKEND"),
        ("A", "N", "other", "NON_ACGT"),
        ("A", "A", "no_change", "ALT_EQUALS_REF"),
        ("A", None, "missing", "MISSING_ALT"),
    ],
)
def test_allele_kind(ref, alt, kind, flag):
    assert allele_kind(ref, alt) == (kind, flag)


def test_trim_alleles():
    assert trim_alleles(10, "ACGT", "ACT") == (12, "G", "")
    assert trim_alleles(10, "A", "ATT") == (11, "", "TT")
    assert trim_alleles(10, "AC", "AT") == (11, "C", "T")


def test_equivalent_span_is_representation_independent():
    seq = encode("GCATTTTGCA")  # a T-run at 3..6
    # deleting one T: left-aligned (anchor A at 2) and right-aligned (anchor T at 5) give the same span
    left = equivalent_span(seq, 0, *trim_alleles(2, "AT", "A"))
    right = equivalent_span(seq, 0, *trim_alleles(5, "TT", "T"))
    assert left == right == (3, 7)
    # inserting a T anywhere in the run
    assert equivalent_span(seq, 0, *trim_alleles(2, "A", "AT")) == equivalent_span(seq, 0, *trim_alleles(6, "T", "TT"))


@pytest.mark.parametrize("length", [5000, 5001, 300, 257, 256])
@pytest.mark.parametrize("context", [256, 1000])
def test_tiling_is_mirror_symmetric_and_keeps_context(length, context):
    t = make_tiling(length, context)
    for p in [*range(0, length, 7), *range(max(0, length - 300), length)]:
        ws, we = t.window(t.tile_of(p))
        assert 0 <= ws <= p < we <= length
        assert we - ws == min(length, t.window_length)
        # the window of the mirrored position is the mirrored window
        ms, me = t.window(t.tile_of(length - 1 - p))
        assert (ms, me) == (length - we, length - ws)
        if not t.near_end(p, p + 1):
            assert p - ws >= t.flank and we - 1 - p >= t.flank


def test_tile_of_span_commutes_with_mirroring():
    length, t = 5001, make_tiling(5001, 256)
    rng = np.random.default_rng(0)
    for _ in range(2000):
        lo = int(rng.integers(0, length - 10))
        hi = lo + int(rng.integers(0, 10))
        w = t.window(t.tile_of_span(lo, hi))
        m = t.window(t.tile_of_span(length - hi, length - lo))
        assert m == (length - w[1], length - w[0])
