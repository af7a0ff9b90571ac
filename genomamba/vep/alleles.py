"""Allele classification and the context-window geometry of variant scoring (no model, no I/O).

Coordinates are 0-based half-open inside; VCF's 1-based POS is converted once, at the reader.

Window geometry ("mirror-symmetric tiles"). A contig of length L is cut into tiles of ``stride`` bases laid out
symmetrically around the contig centre: the central tile is ``[c0, c0 + stride)`` with ``c0 = (L - stride) / 2``
(``stride`` is reduced by one when needed so that ``L - stride`` is even), the others follow at multiples of
``stride`` on both sides. A variant is scored in the window of its tile: the tile plus ``flank`` bases on each
side, shifted inward where it would cross a contig end (the whole contig when it is shorter than the window).
Consequences, each of which a test checks:

* a variant's window depends only on its position and the contig length, never on the other variants in the file
  or their order, so one shared forward pass per tile gives the same score as a pass for the variant alone;
* the layout is mirror-symmetric: the window of position p on the forward contig is the reverse complement of
  the window of position L - 1 - p on the reverse-complemented contig, so scores are strand-symmetric;
* every variant has at least ``flank`` bases of context on each side unless the contig end is closer (flagged).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genomamba.alphabet import NUCLEOTIDES, encode
from genomamba.vep.config import MIN_CONTEXT

# flags (reasons) written per ALT allele; "unscored" ones mean the score is missing
FLAG_REF_MISMATCH = "REF_MISMATCH"
FLAG_UNKNOWN_CONTIG = "UNKNOWN_CONTIG"
FLAG_OUT_OF_RANGE = "POS_OUT_OF_RANGE"
FLAG_SYMBOLIC = "SYMBOLIC"
FLAG_SPANNING_DELETION = "SPANNING_DELETION"
FLAG_BREAKEND = "BREAKEND"
FLAG_MISSING_ALT = "MISSING_ALT"
FLAG_NON_ACGT = "NON_ACGT"
FLAG_ALT_EQUALS_REF = "ALT_EQUALS_REF"
FLAG_INDEL_TOO_LONG = "INDEL_TOO_LONG"
FLAG_NEEDS_FUSION_HEAD = "INDEL_NEEDS_FUSION_HEAD"
FLAG_NEAR_END = "NEAR_END"  # scored, but the contig end is closer than the window flank
FLAG_NON_FINITE = "NON_FINITE_SCORE"  # the model returned NaN/inf (unscored)
FLAG_HAPLOTYPE = "HAPLOTYPE_SCORE"  # scored by the haplotype pseudo-likelihood (indel/MNV), not a single-base LLR
FLAG_SNV_ONLY = "SNV_ONLY_SCORE"  # the score (embedding distance) is defined for SNVs only (unscored)

UNSCORED_FLAGS = frozenset(
    {
        FLAG_REF_MISMATCH,
        FLAG_UNKNOWN_CONTIG,
        FLAG_OUT_OF_RANGE,
        FLAG_SYMBOLIC,
        FLAG_SPANNING_DELETION,
        FLAG_BREAKEND,
        FLAG_MISSING_ALT,
        FLAG_NON_ACGT,
        FLAG_ALT_EQUALS_REF,
        FLAG_INDEL_TOO_LONG,
        FLAG_NEEDS_FUSION_HEAD,
        FLAG_NON_FINITE,
        FLAG_SNV_ONLY,
    }
)

ACGT = frozenset(NUCLEOTIDES)


def allele_kind(ref: str, alt: str | None) -> tuple[str, str | None]:
    """Classify one ALT against REF -> (kind, unscored flag or None).

    kind: snv | mnv | ins | del | complex | symbolic | breakend | spanning_deletion | missing | no_change | other.
    """
    if alt is None or alt in (".", ""):
        return "missing", FLAG_MISSING_ALT
    if alt == "*":
        return "spanning_deletion", FLAG_SPANNING_DELETION
    if alt.startswith("<") and alt.endswith(">"):
        return "symbolic", FLAG_SYMBOLIC
    if "[" in alt or "]" in alt or (len(alt) > 1 and (alt[0] == "." or alt[-1] == ".")):
        return "breakend", FLAG_BREAKEND
    ref_u, alt_u = ref.upper(), alt.upper()
    if not ref_u or not set(ref_u) <= ACGT or not set(alt_u) <= ACGT:
        return "other", FLAG_NON_ACGT
    if ref_u == alt_u:
        return "no_change", FLAG_ALT_EQUALS_REF
    start, ref_core, alt_core = trim_alleles(0, ref_u, alt_u)
    if len(ref_core) == 1 and len(alt_core) == 1:
        return "snv", None
    if len(ref_core) == len(alt_core):
        return "mnv", None
    if not ref_core:
        return "ins", None
    if not alt_core:
        return "del", None
    return "complex", None


def trim_alleles(start: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Drop the shared suffix, then the shared prefix: (start, ref_core, alt_core) of the minimal change.

    ``start`` is the 0-based position of ``ref[0]``; the returned start is that of ``ref_core`` (for a pure
    insertion, the position before which ``alt_core`` is inserted).
    """
    while ref and alt and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    k = 0
    while k < len(ref) and k < len(alt) and ref[k] == alt[k]:
        k += 1
    return start + k, ref[k:], alt[k:]


def equivalent_span(seq: np.ndarray, offset: int, start: int, ref_core: str, alt_core: str) -> tuple[int, int]:
    """Ref-coordinate span [lo, hi) covering every equivalent placement of a pure indel (its repeat context).

    ``seq`` (uint8 tokens) holds the reference from 0-based position ``offset``. For a deletion of ``ref_core``
    at ``start`` (or insertion of ``alt_core`` before ``start``) the same haplotype arises at every shift inside
    a repeat of the indel unit; the span is representation-independent (left- or right-aligned input give the
    same span), which keeps haplotype scores strand-symmetric. Non-indels: the ref span of the change.
    """
    end = start + len(ref_core)
    if ref_core and alt_core:
        return start, end
    unit = encode(ref_core or alt_core)
    lo, hi = start, end
    # shift left: the base before the event equals the last base of the (rotating) unit
    rot = unit.copy()
    while lo - 1 - offset >= 0 and seq[lo - 1 - offset] == rot[-1]:
        lo -= 1
        rot = np.roll(rot, 1)
    rot = unit.copy()
    # shift right: the base at the event end equals the first base of the (rotating) unit
    while hi - offset < seq.size and seq[hi - offset] == rot[0]:
        hi += 1
        rot = np.roll(rot, -1)
    return lo, hi


@dataclass(frozen=True)
class Tiling:
    """Mirror-symmetric tiles of one contig (see the module docstring). All values in bases."""

    length: int  # contig length L
    context: int  # requested window length C
    flank: int  # guaranteed context on each side of a tile (C // 4)

    @property
    def stride(self) -> int:
        s = self.context - 2 * self.flank
        return s if (self.length - s) % 2 == 0 else s - 1

    @property
    def window_length(self) -> int:
        return min(self.length, self.stride + 2 * self.flank)

    @property
    def c0(self) -> int:
        return (self.length - self.stride) // 2

    def tile_of(self, pos: int) -> int:
        """Tile index (0 = central tile, negative to the left) of 0-based ``pos``."""
        return (pos - self.c0) // self.stride

    def tile_of_span(self, lo: int, hi: int) -> int:
        """Tile of the span [lo, hi): the tile of its centre; a centre on a tile boundary goes to the tile nearer
        the contig centre (a rule that commutes with mirroring)."""
        twice_centre = lo + hi - 1  # 2 * centre, centre may be half-integer
        if twice_centre % 2 == 0:
            return self.tile_of(twice_centre // 2)
        a, b = self.tile_of(twice_centre // 2), self.tile_of(twice_centre // 2 + 1)
        return a if abs(a) <= abs(b) else b

    def window(self, tile: int) -> tuple[int, int]:
        """0-based half-open window [start, end) of ``tile``, inside the contig."""
        w = self.window_length
        if self.whole_contig:
            return 0, self.length
        start = self.c0 + tile * self.stride - self.flank
        start = min(max(start, 0), self.length - w)
        return start, start + w

    @property
    def whole_contig(self) -> bool:
        """True when the contig fits in one window (then every tile's window is the whole contig)."""
        return self.window_length >= self.length

    def near_end(self, lo: int, hi: int) -> bool:
        """True if fewer than ``flank`` bases of contig exist on one side of the span [lo, hi)."""
        return lo < self.flank or self.length - hi < self.flank


def make_tiling(length: int, context: int) -> Tiling:
    """The tiling of a contig of ``length`` bases for windows of ``context`` bases (flank = context // 4)."""
    if context < MIN_CONTEXT:
        raise ValueError(f"context must be >= {MIN_CONTEXT} bases, got {context}")
    return Tiling(length=length, context=context, flank=context // 4)
