"""The labeled-dataset loader: layouts, splits, intervals with strand and flanks, and one-line errors."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from genomamba.alphabet import decode, reverse_complement
from genomamba.errors import GenomambaError
from genomamba.finetune.datasets import DataConfig, load_labeled

from .conftest import write_csv


def test_directory_layout_with_dev_alias(motif_dir):
    data = load_labeled(DataConfig(path=str(motif_dir)))
    assert data.task == "binary" and data.classes == ["0", "1"]
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 64, "val": 24, "test": 24}
    assert data.splits["train"].labels.dtype == np.int64
    assert sorted(set(data.splits["train"].labels.tolist())) == [0, 1]


def test_split_column_and_string_labels(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("seq\ty\tfold\nACGT\tenh\ttrain\nAAAA\tnone\ttrain\nCCCC\tenh\tdev\nGGGG\tnone\ttest\n")
    data = load_labeled(DataConfig(path=str(path), sequence_column="seq", label_column="y", split_column="fold"))
    assert data.classes == ["enh", "none"]
    assert decode(data.splits["val"].tokens[0]) == "CCCC"
    assert data.splits["test"].labels.tolist() == [1]


def test_resplit_is_seeded_and_exact(tmp_path):
    rows = [("ACGT" * 3, i % 2) for i in range(100)]
    d = tmp_path / "d"
    d.mkdir()
    write_csv(d / "dev.csv", rows)
    cfg = DataConfig(path=str(d), resplit="dev", resplit_fractions=[0.7, 0.1, 0.2], split_seed=3)
    a, b = load_labeled(cfg), load_labeled(cfg)
    assert [len(a.splits[s]) for s in ("train", "val", "test")] == [70, 10, 20]
    assert a.splits["test"].ids == b.splits["test"].ids
    other = load_labeled(DataConfig(path=str(d), resplit="dev", resplit_fractions=[0.7, 0.1, 0.2], split_seed=4))
    assert other.splits["test"].ids != a.splits["test"].ids
    all_ids = a.splits["train"].ids + a.splits["val"].ids + a.splits["test"].ids
    assert len(set(all_ids)) == 100


def test_regression_is_inferred(tmp_path):
    path = tmp_path / "r.csv"
    write_csv(
        path,
        [("ACGT", 0.5, "train"), ("AAAA", -1.25, "train"), ("CCCC", 2.0, "val")],
        header=("sequence", "label", "split"),
    )
    data = load_labeled(DataConfig(path=str(path)))
    assert data.task == "regression" and data.classes == []
    assert data.splits["train"].labels.tolist() == [0.5, -1.25]


def test_intervals_strand_and_flank(toy_genome, tmp_path):
    fasta, _, chrom = toy_genome
    bed = tmp_path / "i.bed"
    # headerless BED: chrom start end name score strand + label column (col7) + split (col8)
    bed.write_text(
        "chrA\t100\t110\ta\t0\t+\t1\ttrain\nchrA\t100\t110\tb\t0\t-\t0\ttrain\nchrA\t0\t5\tc\t0\t+\t1\tval\n"
    )
    cfg = DataConfig(path=str(bed), fasta=str(fasta), label_column="col7", split_column="col8", flank=3)
    data = load_labeled(cfg)
    fwd, rev = data.splits["train"].tokens
    assert decode(fwd) == chrom[97:113]
    assert decode(rev) == decode(reverse_complement(fwd))
    assert data.splits["train"].ids == ["a", "b"]
    edge = decode(data.splits["val"].tokens[0])
    assert edge == "NNN" + chrom[0:8]  # flank past the chromosome start is N


@pytest.mark.parametrize(
    "case, problem",
    [
        ("missing_sequence", "missing sequence column 'sequence'"),
        ("missing_label", "missing label column 'label'"),
        ("unknown_label", "unknown label '2'"),
        ("invalid_char", "invalid nucleotide 'X' at offset 2"),
        ("unknown_split", "unknown split 'holdout'"),
        ("bad_fields", "expected 3 fields, found 2"),
    ],
)
def test_table_errors(tmp_path, case, problem):
    path = tmp_path / "bad.csv"
    text = {
        "missing_sequence": "seq,label,split\nACGT,1,train\n",
        "missing_label": "sequence,class,split\nACGT,1,train\n",
        "unknown_label": "sequence,label,split\nACGT,1,train\nACGA,0,train\nACGT,2,test\n",
        "invalid_char": "sequence,label,split\nACGT,1,train\nACXT,0,train\n",
        "unknown_split": "sequence,label,split\nACGT,1,holdout\n",
        "bad_fields": "sequence,label,split\nACGT,1\n",
    }[case]
    path.write_text(text)
    with pytest.raises(GenomambaError) as err:
        load_labeled(DataConfig(path=str(path)))
    assert problem in err.value.problem
    assert "\n" not in err.value.render()
    assert err.value.path == str(path)
    expected_line = {"unknown_label": "line 4", "invalid_char": "line 3", "unknown_split": "line 2"}
    if case in expected_line:
        assert err.value.record == expected_line[case]


def test_empty_split_error(tmp_path):
    path = tmp_path / "t.csv"
    write_csv(path, [("ACGT", 1, "train"), ("AAAA", 0, "train")], header=("sequence", "label", "split"))
    data = load_labeled(DataConfig(path=str(path)))
    with pytest.raises(GenomambaError, match="split 'val' is empty"):
        data.split("val")


def test_interval_errors(toy_genome, tmp_path):
    fasta, _, _ = toy_genome
    cases = {
        "chrA\t5990\t6010\t+\t1\ttrain\n": "runs off the chromosome (chrA has 6000 bases)",
        "chrA\t50\t40\t+\t1\ttrain\n": "invalid interval chrA:50-40",
        "chrZ\t0\t10\t+\t1\ttrain\n": "unknown sequence 'chrZ'",
        "chrA\t0\t10\t*\t1\ttrain\n": "strand must be +, - or .",
    }
    for row, problem in cases.items():
        path = tmp_path / "i.tsv"
        path.write_text("chrom\tstart\tend\tstrand\tlabel\tsplit\n" + row)
        with pytest.raises(GenomambaError) as err:
            load_labeled(DataConfig(path=str(path), fasta=str(fasta)))
        assert problem in err.value.problem, (row, err.value.problem)
        assert err.value.record == "line 2"


def test_unlabeled_input_for_prediction(tmp_path):
    path = tmp_path / "new.tsv.gz"
    path.write_bytes(gzip.compress(b"sequence\nACGT\nTTTT\n"))
    data = load_labeled(
        DataConfig(path=str(path), task="binary", classes=["0", "1"]), require_labels=False, default_split="test"
    )
    assert data.splits["test"].labels.tolist() == [-1, -1]
    with pytest.raises(GenomambaError, match="missing label column"):
        load_labeled(DataConfig(path=str(path)), default_split="test")
