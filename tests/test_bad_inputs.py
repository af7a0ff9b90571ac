"""Bad values that used to escape as exceptions or pass silently: each is now exit 2, one line naming the file (and
row or key), and no output left behind."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from tests.helpers import run_cli

VCF = str(resources.files("genomamba") / "resources/genomes/yeast_chrI/consequence_snvs.vcf.gz")


def _one_line_exit_2(proc, *needles: str) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_score_vcf_output_that_is_a_directory_leaves_no_index(tmp_path):
    out = tmp_path / "scores.vcf.gz"
    out.mkdir()
    proc = run_cli("-q", "score-vcf", "--vcf", VCF, "--fasta", "yeast_chrI", "--kmer-baseline", "2", "--out", str(out))
    _one_line_exit_2(proc, str(out), "directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.vcf.gz"]


def test_score_vcf_writes_output_and_index_together(tmp_path):
    out = tmp_path / "scores.vcf.gz"
    args = ("-q", "score-vcf", "--vcf", VCF, "--fasta", "yeast_chrI", "--kmer-baseline", "2", "--out", str(out))
    run_cli(*args, check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.vcf.gz", "scores.vcf.gz.tbi"]


def test_evaluate_vep_non_numeric_score_names_file_row_and_column(tmp_path):
    bad = tmp_path / "scores.tsv"
    bad.write_text("chrom\tpos\tref\talt\tllr\tLABEL\nI\t10\tA\tC\t0.1\t1\nI\t20\tA\tG\tabc\t0\n")
    proc = run_cli("-q", "evaluate-vep", "--scores", f"m={bad}", "--out", str(tmp_path / "eval"))
    _one_line_exit_2(proc, str(bad), "row 2", "'llr'", "'abc'")
    assert not (tmp_path / "eval").exists()


def test_evaluate_non_numeric_prediction_names_file_and_row(tmp_path):
    preds = tmp_path / "p.tsv"
    preds.write_text("id\tsplit\tlabel\tscore\tpred\n1\ttest\tyes\t0.9\tyes\n2\ttest\tno\tn/a\tno\n")
    info = {"task": "binary", "classes": ["no", "yes"], "checkpoint": "c", "dataset": "d", "split": "test"}
    (tmp_path / "p.tsv.json").write_text(json.dumps(info))
    proc = run_cli("-q", "evaluate", "--predictions", str(preds), "--out-dir", str(tmp_path / "eval"))
    _one_line_exit_2(proc, str(preds), "row 2", "'score'")
    assert not (tmp_path / "eval").exists()


def test_summarize_unknown_metric_key_is_an_error(tmp_path):
    metrics = tmp_path / "m.json"
    metrics.write_text(json.dumps({"a": 1, "b": {"c": 2.5}}))
    out = tmp_path / "summary.txt"
    proc = run_cli("summarize", "--metrics", f"x={metrics}:b.nope", "--out", str(out))
    _one_line_exit_2(proc, str(metrics), "'b.nope'", "b.c")
    assert not out.exists()
    run_cli("summarize", "--metrics", f"x={metrics}:b.c", "--out", str(out), check=True)
    assert "b.c" in out.read_text()


def test_score_vcf_killed_mid_run_leaves_a_temporary_that_the_rerun_removes(tmp_path):
    import gzip
    import signal
    import subprocess
    import sys
    import time

    import numpy as np

    from genomamba.genome.fasta import Genome
    from genomamba.genome.registry import resolve_genome

    genome = Genome(resolve_genome("yeast_chrI")[0])
    (contig, length), *_ = genome.contigs.items()
    seq = genome.fetch(contig, 0, length).upper()
    rng = np.random.default_rng(0)
    positions = np.sort(rng.choice(np.arange(100, length - 100), 25_000, replace=False))
    vcf = tmp_path / "many.vcf.gz"
    with gzip.open(vcf, "wt") as fh:
        fh.write(f"##fileformat=VCFv4.2\n##contig=<ID={contig},length={length}>\n")
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for pos in positions:
            ref = seq[pos]
            alt = "A" if ref != "A" else "C"
            fh.write(f"{contig}\t{pos + 1}\t.\t{ref}\t{alt}\t.\t.\t.\n")
    out = tmp_path / "scores.tsv"
    argv = [sys.executable, "-m", "genomamba", "score-vcf", "--vcf", str(vcf), "--fasta", "yeast_chrI"]
    argv += ["--kmer-baseline", "3", "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while proc.poll() is None and not _temps(out) and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(0.2)  # inside the run, past the scratch folder's creation
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -9, f"score-vcf finished before it could be killed: {proc.stderr.read()}"
    stale = _temps(out)
    assert stale and not out.exists()
    rerun = run_cli(*argv[3:], check=True)
    assert "no longer runs" in rerun.stderr
    assert _temps(out) == [] and out.exists()


def _temps(out):
    return sorted(out.parent.glob(f".{out.name}.genomamba-*"))


# ------------------------------------------------------------------------------ directory outputs: never a user's
# each command that writes a directory, its arguments other than the output (paths never read, since the output is
# checked first), its output flag, and the first heavy step, which must not start
_DIR_COMMANDS = [
    ("evaluate-vep", ["--scores", "s.tsv"], "--out", "genomamba.vep.evaluate.load_scores"),
    ("evaluate", ["--predictions", "p.tsv"], "--out-dir", "genomamba.finetune.evaluate.read_predictions"),
    ("probe", ["--checkpoint", "ckpt", "--data", "d.tsv"], "--out-dir", "genomamba.finetune.datasets.load_labeled"),
    ("track", ["--checkpoint", "ckpt", "--fasta", "g.fa", "--regions", "all"], "--out",
     "genomamba.finetune.datasets.open_genome"),
    ("ism", ["--checkpoint", "ckpt", "--fasta", "g.fa", "--regions", "c:1-9"], "--out",
     "genomamba.finetune.datasets.open_genome"),
    ("finetune", ["--data", "d.tsv"], "--out", "genomamba.finetune.run.load_labeled"),
    ("windows", ["--fasta", "g.fa"], "--out", "genomamba.genome.registry.resolve_genome"),
]  # fmt: skip


def _forbid(monkeypatch, target: str) -> None:
    def heavy(*args, **kwargs):
        raise AssertionError(f"{target} ran before the output was checked")

    monkeypatch.setattr(target, heavy)


@pytest.mark.parametrize("what", ["user folder", "file"])
@pytest.mark.parametrize("command, args, flag, heavy", _DIR_COMMANDS, ids=[c[0] for c in _DIR_COMMANDS])
def test_directory_output_that_is_not_ours_is_refused_before_any_work(
    tmp_path, monkeypatch, capsys, command, args, flag, heavy, what
):
    from genomamba.cli import main

    out = tmp_path / "victim"
    if what == "file":
        out.write_text("keep me")
    else:
        out.mkdir()
        (out / "thesis.tex").write_text("do not delete")
    _forbid(monkeypatch, heavy)
    monkeypatch.chdir(tmp_path)
    assert main([command, *args, flag, str(out)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    problem = "refusing to replace it" if what == "user folder" else "exists and is not a directory"
    assert line.startswith(f"genomamba {command}: {out}: ") and problem in line, line
    if what == "file":
        assert out.read_text() == "keep me"
    else:
        assert [p.name for p in out.iterdir()] == ["thesis.tex"] and (out / "thesis.tex").read_text() == "do not delete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim"]  # and no temporary beside it


@pytest.mark.parametrize("taken", ["p.parquet", "p.parquet.json"])
def test_predict_output_or_its_json_taken_by_a_directory_fails_before_the_model_loads(
    tmp_path, monkeypatch, capsys, taken
):
    from genomamba.cli import main

    (tmp_path / taken).mkdir()
    _forbid(monkeypatch, "genomamba.finetune.checkpoint.load_finetuned")
    assert main(["predict", "--checkpoint", str(tmp_path / "ckpt"), "--out", str(tmp_path / "p.parquet")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"genomamba predict: {tmp_path / taken}: is a directory, but a file is written here"


def test_pretrain_output_that_is_a_file_fails_before_the_data_checks(tmp_path, monkeypatch, capsys):
    from genomamba.cli import main

    out = tmp_path / "run"
    out.write_text("keep me")
    _forbid(monkeypatch, "genomamba.pretrain.data.PretrainDataModule")
    assert main(["pretrain", "--windows", str(tmp_path / "w"), "--out", str(out)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"genomamba pretrain: {out}: exists and is not a directory, but a directory is written here"
    assert out.read_text() == "keep me"
