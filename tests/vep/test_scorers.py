"""The scorer protocol, load_scorer's one return type, the shared RefChecker, and the device a model runs on."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from genomamba.errors import GenomambaError
from genomamba.genome.fasta import Genome
from genomamba.vep import ScoreVcfConfig
from genomamba.vep.engine import SupervisedEffectScorer, VariantEffectScorer, make_engine
from genomamba.vep.refcheck import RefChecker, Variant
from genomamba.vep.scorers import KmerScorer, ModelScorer, Scorer, SupervisedScorer, load_scorer

from .conftest import tiny_model


@pytest.fixture(scope="module")
def genome(fasta):
    return Genome(fasta)


@pytest.fixture(scope="module")
def sequence_checkpoint(tmp_path_factory):
    from genomamba.model import GenomambaForSequence, HeadConfig

    torch.manual_seed(0)
    net = GenomambaForSequence(tiny_model("head"), HeadConfig(n_outputs=3, pooling="mean", strands="forward"))
    path = tmp_path_factory.mktemp("seqhead") / "ft"
    net.eval().save_pretrained(path, extra={"finetune": {"task": "classification", "classes": ["a", "b", "c"]}})
    return path


def test_load_scorer_returns_a_scorer_object_for_every_source(genome, head_checkpoint, sequence_checkpoint):
    cfg = ScoreVcfConfig(context=128)
    kmer = load_scorer(genome, cfg, kmer=2)
    lm = load_scorer(genome, cfg, checkpoint=str(head_checkpoint), backend="ref")
    sup = load_scorer(genome, cfg, checkpoint=str(sequence_checkpoint), backend="ref", output_index=1)
    assert isinstance(kmer, KmerScorer) and isinstance(kmer, Scorer)
    assert isinstance(lm, ModelScorer) and isinstance(lm, Scorer)
    assert isinstance(sup, SupervisedScorer) and sup.output_index == 1
    assert type(make_engine(lm, genome, cfg)) is VariantEffectScorer
    assert type(make_engine(sup, genome, cfg)) is SupervisedEffectScorer
    assert "k=2" in kmer.describe()["model"]
    assert len(lm.describe()["checkpoint_sha256"]) == 64 and "fusion=head" in lm.describe()["model"]
    assert "class 'b'" in sup.describe()["model"]
    with pytest.raises(GenomambaError, match="outside the head's 3 outputs"):
        load_scorer(genome, cfg, checkpoint=str(sequence_checkpoint), backend="ref", output_index=3)
    with pytest.raises(GenomambaError, match="exactly one"):
        load_scorer(genome, cfg)
    with pytest.raises(GenomambaError, match="order must be 1..6"):
        load_scorer(genome, cfg, kmer=7)


def test_supervised_predictions_are_class_probabilities(genome, sequence_checkpoint):
    sup = load_scorer(genome, ScoreVcfConfig(context=128), checkpoint=str(sequence_checkpoint), backend="ref")
    windows = [genome.fetch_tokens("1", s, s + 100)[0] for s in (0, 50, 900)] + [genome.fetch_tokens("MT", 0, 80)[0]]
    p = sup.predict(windows)
    assert p.shape == (4,) and np.all((p > 0) & (p < 1))
    assert sup.n_sequences == 4
    with torch.inference_mode():
        alone = torch.softmax(sup.wrapper(torch.from_numpy(windows[3][None].astype(np.int64))), dim=-1)[0, 2]
    assert p[3] == pytest.approx(float(alone), abs=1e-6)  # padding in a shared batch changes nothing


def test_ref_checker_is_what_the_engine_uses(genome, genome_seqs, caplog):
    s1 = genome_seqs["1"]
    wrong = "A" if s1[9] != "A" else "C"
    variants = [
        Variant("chr1", 10, s1[9], ("T",), "line 1"),
        Variant("chr1", 10, wrong, ("T",), "line 2"),
        Variant("chrUn", 1, "A", ("C",), "line 3"),
        Variant("1", 3001, s1[3000] + "A", ("A",), "line 4"),  # runs past the contig end
    ]
    checker = RefChecker(genome, "warn", source="x.vcf")
    with caplog.at_level(logging.WARNING, logger="genomamba.vep.refcheck"):
        flags = [checker.check(v) for v in variants]
    assert flags == [[], ["REF_MISMATCH"], ["UNKNOWN_CONTIG"], ["POS_OUT_OF_RANGE"]]
    assert "line 2: REF" in caplog.text and checker.unknown_contigs == {"chrUn"}
    kmer = KmerScorer(1).fit([genome.fetch_tokens("1", 0, 3001)[0]])
    engine = VariantEffectScorer(kmer, genome, ScoreVcfConfig(context=128, ref_check="skip"))
    results = engine.score(variants)
    assert [r[0].flags[:1] for r in results[1:]] == flags[1:]
    assert engine.counts["records_ref_mismatch"] == checker.counts["records_ref_mismatch"] == 1
    with pytest.raises(GenomambaError, match="line 2: REF"):
        RefChecker(genome, "error", source="x.vcf").check(variants[1])


def test_model_scorer_runs_on_its_device(genome):
    model = tiny_model("head")
    window = [genome.fetch_tokens("1", 0, 200)[0]]
    want = ModelScorer(model, 4).log_probs(window)[0]
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: only the CPU half of the device check ran")
    scorer = ModelScorer(tiny_model("head"), 4, device="cuda")
    assert next(scorer.model.parameters()).device.type == "cuda"
    np.testing.assert_allclose(scorer.log_probs(window)[0], want, atol=1e-4)


@pytest.mark.parametrize("k", [1, 3])
def test_kmer_llr_is_the_baseline_models_log_ratio(tmp_path, k):
    """The VEP k-mer LLR is ln P_alt - ln P_ref under baselines.kmer's two-sided model (its own probabilities)."""
    from genomamba.alphabet import encode
    from genomamba.baselines.kmer import fit_kmer, score_tile

    from .conftest import random_seq, write_fasta

    seq = random_seq(400, 11)
    seq = seq[:200] + "NN" + seq[202:]  # an N cuts contexts: both sides must back off alike
    genome = Genome(write_fasta(tmp_path / "k.fa", {"c": seq}))
    cfg = ScoreVcfConfig(context=128, strands="both")
    engine = VariantEffectScorer(load_scorer(genome, cfg, kmer=k), genome, cfg)
    positions = [0, 1, 50, 198, 199, 202, 203, 300, 399]
    alts = ["ACGT"[("ACGT".index(seq[p]) + 1 + p % 3) % 4] for p in positions]
    results = engine.score([Variant("c", p + 1, seq[p], (a,)) for p, a in zip(positions, alts)])
    model = fit_kmer([encode(seq)], k, two_sided=True, alpha=1.0)
    ref_bits = score_tile(model, encode(seq), k)  # -log2 P(x_p)
    for p, a, res in zip(positions, alts, results):
        alt_seq = encode(seq[:p] + a + seq[p + 1 :])
        want = (ref_bits[p] - score_tile(model, alt_seq, k)[p]) * np.log(2.0)
        assert res[0].llr == pytest.approx(want, abs=1e-5)
        assert res[0].llr_fwd == pytest.approx(res[0].llr_rev, abs=1e-5)  # equivariant by construction
