"""k-mer features (exact counts, N and sequence boundaries respected) and the baseline on planted signals."""

from __future__ import annotations

import numpy as np

from genomamba.alphabet import encode
from genomamba.baselines.kmer_classifier import KmerBaselineConfig, kmer_counts, kmer_features, run_kmer_baseline
from genomamba.finetune.datasets import DataConfig, load_labeled

from .conftest import random_seq, write_csv


def test_kmer_counts_exact():
    counts = kmer_counts([encode("ACGTNAC"), encode("AA")], 2)
    # row 0: AC, CG, GT, (TN, NA skipped), AC -> AC twice; row 1: AA; nothing spans the two sequences
    ac, cg, gt, aa = 0 * 4 + 1, 1 * 4 + 2, 2 * 4 + 3, 0
    assert counts[0, ac] == 2 and counts[0, cg] == 1 and counts[0, gt] == 1 and counts[0].sum() == 4
    assert counts[1, aa] == 1 and counts[1].sum() == 1


def test_both_strands_features_are_strand_symmetric():
    cfg = KmerBaselineConfig(k_values=[3], both_strands=True)
    a = kmer_features([encode("AACGTTGCA")], cfg)
    b = kmer_features([encode("TGCAACGTT")], cfg)  # reverse complement
    assert np.allclose(a, b)


def test_baseline_learns_planted_motif(motif_dir):
    data = load_labeled(DataConfig(path=str(motif_dir)))
    res = run_kmer_baseline(data, KmerBaselineConfig(k_values=[3, 4]))
    assert res.metrics["test"]["auroc"] > 0.85
    assert res.score(data.splits["test"].tokens).shape == (24,)


def test_baseline_regression_on_gc(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(150):
        gc = rng.uniform(0.2, 0.8)
        rows.append((random_seq(rng, 80, gc), round(gc, 4), ("train", "val", "test")[i % 3]))
    write_csv(tmp_path / "r.csv", rows, header=("sequence", "label", "split"))
    data = load_labeled(DataConfig(path=str(tmp_path / "r.csv")))
    res = run_kmer_baseline(data, KmerBaselineConfig(k_values=[1, 2]))
    assert data.task == "regression" and res.metrics["test"]["spearman"] > 0.8
