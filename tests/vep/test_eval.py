"""evaluate-vep: metrics against sklearn, groups/contrasts, labels from a TSV, outputs, and the real dev set."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from genomamba.errors import GenomambaError
from genomamba.vep import ScoreVcfConfig, score_vcf
from genomamba.vep.evaluate import ScoreTable, evaluate

from .conftest import shared_file


def synthetic(n=400, seed=0) -> ScoreTable:
    rng = np.random.default_rng(seed)
    group = rng.choice(["stop_gained", "synonymous", "missense"], n)
    label = (group == "stop_gained").astype(np.int8)
    score = rng.normal(size=n) - 1.0 * label  # damaging -> lower score
    score[:5] = np.nan  # unscored alleles are excluded
    chrom = np.array(["c1", "c2"] * (n // 2), dtype=object)
    ref, alt = np.array(["A"] * n), np.array(["C"] * n)
    return ScoreTable("s", chrom, np.arange(n), ref, alt, score, label, group.astype(object))


def test_metrics_match_sklearn_and_cis_bracket_them():
    t = synthetic()
    report = evaluate([t], [("stop_gained", "synonymous")], n_boot=200, seed=1)
    rows = {r["comparison"]: r for r in report["results"]}
    ok = ~np.isnan(t.score)
    y, s = t.label[ok], -t.score[ok]
    assert rows["overall"]["auroc"] == pytest.approx(roc_auc_score(y, s), abs=1e-6)
    assert rows["overall"]["auprc"] == pytest.approx(average_precision_score(y, s), abs=1e-6)
    lo, hi = rows["overall"]["auroc_ci"]
    assert lo < rows["overall"]["auroc"] < hi
    c = rows["contrast:stop_gained_vs_synonymous"]
    sel = ok & np.isin(t.group, ["stop_gained", "synonymous"])
    assert c["auroc"] == pytest.approx(roc_auc_score(t.group[sel] == "stop_gained", -t.score[sel]), abs=1e-6)
    assert rows["group:stop_gained"]["kind"] == "vs_all_negatives"
    assert rows["group:synonymous"]["kind"] == "all_positives_vs"
    assert report["inputs"][0]["unscored_excluded"] == 5


def test_cli_with_labels_tsv_and_bad_labels(tmp_path, capsys):
    from genomamba.cli import main

    from .conftest import write_fasta, write_vcf

    seq = "ACGT" * 200
    fa = write_fasta(tmp_path / "r.fa", {"c": seq})
    recs = [f"c\t{p}\t.\t{seq[p - 1]}\t{'A' if seq[p - 1] != 'A' else 'G'}\t.\t.\t." for p in range(100, 700, 10)]
    vcf = write_vcf(tmp_path / "v.vcf", recs, {"c": len(seq)})
    out = tmp_path / "s.tsv"
    score_vcf(vcf, fa, out, ScoreVcfConfig(context=128), kmer=1, progress=False)
    labels = tmp_path / "labels.tsv"
    lines = ["chrom\tpos\tref\talt\tlabel\tclass"]
    for i, r in enumerate(recs):
        c, p, _, ref, alt = r.split("\t")[:5]
        lines.append(f"{c}\t{p}\t{ref}\t{alt}\t{i % 2}\t{'a' if i % 2 else 'b'}")
    labels.write_text("\n".join(lines) + "\n")
    inputs = ["--scores", f"k1={out}", "--labels", str(labels), "--group-field", "class", "--contrast", "a:b"]
    (tmp_path / "ev").mkdir()  # an empty folder may take the report
    assert main(["evaluate-vep", *inputs, "--bootstrap", "50", "--out", str(tmp_path / "ev")]) == 0
    report = json.loads((tmp_path / "ev" / "vep_metrics.json").read_text())
    assert report["results"][0]["n_pos"] == 30 and report["results"][0]["n_neg"] == 30
    for name in ("vep_metrics.tsv", "roc.png", "score_distributions.png"):
        assert (tmp_path / "ev" / name).stat().st_size > 0
    (tmp_path / "ev" / "roc.png").unlink()
    assert main(["evaluate-vep", *inputs, "--bootstrap", "50", "--out", str(tmp_path / "ev")]) == 0  # a rerun
    assert (tmp_path / "ev" / "roc.png").is_file()  # replaced the previous report
    labels.write_text(lines[0] + "\n" + lines[1].replace("\t0\t", "\tmaybe\t") + "\n")
    capsys.readouterr()
    code = main(["evaluate-vep", "--scores", str(out), "--labels", str(labels), "--out", str(tmp_path / "ev2")])
    assert code == 2 and "line 2: label 'maybe' is not binary" in capsys.readouterr().err
    assert not (tmp_path / "ev2").exists()


def test_real_dev_set_kmer_baseline(tmp_path):
    """All 1,068 yeast SNVs pass the REF check and get scored; evaluation runs on the INFO labels."""
    vcf = shared_file("vep_consequence_snvs_dev", "scer_R64_chrI.vcf")
    fasta = shared_file("references", "ScerR64_I_GCF_000146045.2_R64_genomic.fna.gz")
    out = tmp_path / "yeast.vcf.gz"
    summary = score_vcf(vcf, fasta, out, ScoreVcfConfig(), kmer=3, progress=False)
    assert summary["records"] == summary["scored_alleles"] == 1068 and summary["records_ref_mismatch"] == 0
    with pytest.raises(GenomambaError, match="no INFO/NOPE"):
        evaluate_cli(out, tmp_path, "NOPE")
    report = evaluate_cli(out, tmp_path, "LABEL")
    rows = {r["comparison"]: r for r in report["results"]}
    assert rows["overall"]["n_pos"] == 468 and rows["overall"]["n_neg"] == 600
    assert rows["contrast:stop_gained_vs_synonymous"]["n_pos"] == 150


def evaluate_cli(scores, tmp_path, label_field):
    from genomamba.vep.evaluate import load_scores

    t = load_scores(scores, "kmer3", "GM_LLR", label_field, "CSQ")
    return evaluate([t], [("stop_gained", "synonymous")], n_boot=20)
