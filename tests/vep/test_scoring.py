"""Score-level properties: strand symmetry, one-pass == per-variant for fusion "head", order independence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genomamba.alphabet import encode
from genomamba.genome.fasta import Genome
from genomamba.model import nucleotide_log_probs
from genomamba.vep import ScoreVcfConfig
from genomamba.vep.engine import Variant, VariantEffectScorer
from genomamba.vep.scorers import KmerScorer, ModelScorer

from .conftest import random_seq, rc_text, tiny_model, write_fasta

COMP = {"A": "T", "C": "G", "G": "C", "T": "A"}
L = 1201


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    """A genome holding one sequence forward ("fwd") and reverse-complemented ("rev")."""
    seq = random_seq(L, 7)
    seq = seq[:600] + "ATTTTTG" + seq[607:]  # a T-run for a repeat-ambiguous deletion
    path = write_fasta(tmp_path_factory.mktemp("mirror") / "m.fa", {"fwd": seq, "rev": rc_text(seq)})
    return Genome(path), seq


def mirrored_variants(seq: str) -> tuple[list[Variant], list[Variant]]:
    """The same variants expressed on the forward sequence and on its reverse complement (VCF conventions)."""
    rev = rc_text(seq)
    fwd_vs, rev_vs = [], []
    for p in (0, 3, 64, 65, 300, 777, L - 2, L - 1):  # 0-based; first and last base included
        ref = seq[p]
        alt = [b for b in "ACGT" if b != ref][p % 3]
        fwd_vs.append(Variant("fwd", p + 1, ref, (alt,)))
        rev_vs.append(Variant("rev", L - p, COMP[ref], (COMP[alt],)))
    # deletion of one T of the run at 602..605, left-aligned on both strands (different spellings of one event)
    fwd_vs.append(Variant("fwd", 601, seq[600:602], (seq[600],)))
    q = L - 606  # 0-based start of the run's mirror minus one: anchor before the mirrored run
    rev_vs.append(Variant("rev", q + 1, rev[q : q + 2], (rev[q],)))
    # insertion of GATTACA after base 900
    ins = "GATTACA"
    fwd_vs.append(Variant("fwd", 901, seq[900], (seq[900] + ins,)))
    q = L - 901  # inserted before rev base L-901 -> anchor at L-902
    rev_vs.append(Variant("rev", q, rev[q - 1], (rev[q - 1] + rc_text(ins),)))
    # an MNV
    fwd_vs.append(Variant("fwd", 501, seq[500:502], (COMP[seq[500]] + COMP[seq[501]],)))
    rev_vs.append(Variant("rev", L - 501, rev[L - 502 : L - 500], (seq[501] + seq[500],)))
    return fwd_vs, rev_vs


def _scores(engine, variants):
    return [(r[0].kind, r[0].llr, r[0].llr_fwd, r[0].llr_rev, r[0].flags) for r in engine.score(variants)]


@pytest.mark.parametrize("fusion", ["head", "layer"])
def test_strand_symmetry_model(mirrored, fusion):
    genome, seq = mirrored
    fwd_vs, rev_vs = mirrored_variants(seq)
    cfg = ScoreVcfConfig(context=128, haplotype_flank=8, batch_size=8, strands="both")
    engine = VariantEffectScorer(ModelScorer(tiny_model(fusion), 8), genome, cfg)
    a, b = _scores(engine, fwd_vs), _scores(engine, rev_vs)
    n_scored = 0
    for (kind, llr, f1, r1, flags), (kind2, llr2, f2, r2, _) in zip(a, b):
        assert kind == kind2
        if llr is None:
            assert fusion == "layer" and "INDEL_NEEDS_FUSION_HEAD" in flags and llr2 is None
            continue
        n_scored += 1
        assert llr == pytest.approx(llr2, abs=2e-5)
        # the forward strand of one is the reverse strand of the other
        assert f1 == pytest.approx(r2, abs=2e-5) and r1 == pytest.approx(f2, abs=2e-5)
    assert n_scored == (len(a) if fusion == "head" else 8)
    if fusion == "layer":  # not equivariant by construction: the strands really differ, and both are reported
        assert any(abs(x[2] - x[3]) > 1e-4 for x in a if x[1] is not None)


def test_strand_symmetry_kmer(mirrored):
    genome, seq = mirrored
    fwd_vs, rev_vs = mirrored_variants(seq)
    scorer = KmerScorer(2).fit([encode(seq)])
    engine = VariantEffectScorer(scorer, genome, ScoreVcfConfig(context=128, haplotype_flank=8, strands="both"))
    for x, y in zip(_scores(engine, fwd_vs), _scores(engine, rev_vs)):
        assert x[1] == pytest.approx(y[1], abs=1e-5)
        assert x[2] == pytest.approx(x[3], abs=1e-5)  # both-strand counts: equivariant by construction


def test_fusion_head_one_pass_equals_each_variant_alone(mirrored):
    genome, seq = mirrored
    model = tiny_model("head")
    variants, _ = mirrored_variants(seq)
    variants = [variants[i] for i in (0, 1, 2, 3, 7, 8)]  # SNVs (two sharing a tile), the deletion
    snvs = [v for v in variants if len(v.ref) == len(v.alts[0]) == 1]
    shared = VariantEffectScorer(
        ModelScorer(model, 8), genome, ScoreVcfConfig(context=128, haplotype_flank=8, batch_size=8)
    )
    alone = VariantEffectScorer(
        ModelScorer(model, 1), genome, ScoreVcfConfig(context=128, haplotype_flank=8, per_variant=True)
    )
    a, b = _scores(shared, variants), _scores(alone, variants)
    assert shared.counts["tile_passes"] < alone.counts["tile_passes"]
    for x, y in zip(a, b):
        assert x[1] == pytest.approx(y[1], abs=1e-5)
    # and each SNV equals an explicit two-sequence score: log P(alt | alt window) - log P(ref | ref window);
    # the head never sees x[p], so the one reference pass gives both terms
    tiling = shared.tiling("fwd")
    rows, where = [], []
    for v in snvs:
        p = v.pos - 1
        ws, we = tiling.window(tiling.tile_of(p))
        ref_w = encode(seq[ws:we]).astype(np.int64)
        alt_w = ref_w.copy()
        alt_w[p - ws] = "ACGT".index(v.alts[0])
        rows += [ref_w, alt_w]
        where.append((p - ws, ref_w[p - ws], alt_w[p - ws]))
    with torch.inference_mode():
        lp = nucleotide_log_probs(model, torch.from_numpy(np.stack(rows)))  # all windows have length W
    for k, (x, (i, r, t)) in enumerate(zip(a, where)):
        explicit = lp[2 * k + 1, i, t] - lp[2 * k, i, r]
        assert x[1] == pytest.approx(float(explicit), abs=1e-5)


def test_scores_do_not_depend_on_order_or_chunking(mirrored):
    genome, seq = mirrored
    variants, _ = mirrored_variants(seq)
    scorer = KmerScorer(3).fit([encode(seq)])  # the engine's bookkeeping is under test, not the model
    sorted_scores = _scores(
        VariantEffectScorer(scorer, genome, ScoreVcfConfig(context=128, haplotype_flank=8)), variants
    )
    order = np.random.default_rng(0).permutation(len(variants))
    engine = VariantEffectScorer(
        scorer, genome, ScoreVcfConfig(context=128, haplotype_flank=8, chunk_records=3, tile_cache=1)
    )
    shuffled = []
    for i in range(0, len(order), 3):
        shuffled += _scores(engine, [variants[j] for j in order[i : i + 3]])
    for k, j in enumerate(order):
        assert shuffled[k][1] == pytest.approx(sorted_scores[j][1], abs=1e-5)


def test_non_finite_scores_are_flagged_never_written(mirrored):
    genome, seq = mirrored

    class NanScorer:  # a diverged checkpoint
        fusion, rc_equivariant, n_sequences = "head", True, 0

        def log_probs(self, windows):
            return [np.full((len(w), 4), np.nan, dtype=np.float32) for w in windows]

    variants, _ = mirrored_variants(seq)
    engine = VariantEffectScorer(NanScorer(), genome, ScoreVcfConfig(context=128, haplotype_flank=8))
    for _kind, llr, _, _, flags in _scores(engine, variants):
        assert llr is None and "NON_FINITE_SCORE" in flags
    assert engine.counts["scored"] == 0
