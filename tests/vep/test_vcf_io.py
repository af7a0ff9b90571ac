"""VCF edge cases, output formats and round trips of ``score-vcf`` (k-mer baseline scorer: fast, exact)."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pysam
import pytest

from genomamba.errors import GenomambaError
from genomamba.vep import ScoreVcfConfig, score_vcf

from .conftest import run_cli, write_vcf

CFG = dict(context=128, haplotype_flank=8)


def kitchen_sink(seqs) -> list[str]:
    s1, mt = seqs["1"], seqs["MT"]
    other = [b for b in "ACGT" if b != s1[1000]]
    return [
        f"chr1\t1\tfirst\t{s1[0]}\t{'C' if s1[0] != 'C' else 'G'}\t.\t.\tDP=3",  # position 1
        f"chr1\t101\tmulti\t{s1[100]}\t{','.join(b for b in 'ACGT' if b != s1[100])}\t.\tPASS\tDP=4",
        f"chr1\t201\tdel\t{s1[200:203]}\t{s1[200]}\t.\t.\tUNDECLARED=x",  # INFO missing from the header
        f"chr1\t301\tins\t{s1[300]}\t{s1[300]}TTAG\t.\t.\t.",
        f"chr1\t401\tsym\t{s1[400]}\t<DEL>\t.\t.\tSVTYPE=DEL",
        f"chr1\t501\tstar\t{s1[500]}\t*,{'A' if s1[500] != 'A' else 'C'}\t.\t.\t.",
        f"chr1\t601\tbnd\t{s1[600]}\t{s1[600]}[chr1:900[\t.\t.\t.",
        f"chr1\t1001\tmismatch\t{other[0]}\t{other[1]}\t.\t.\t.",  # REF disagrees with the FASTA
        f"chr1\t3001\tlast\t{s1[3000]}\t{'A' if s1[3000] != 'A' else 'T'}\t.\t.\t.",  # last base
        f"chrM\t100\tmito\t{mt[99]}\t{'G' if mt[99] != 'G' else 'A'}\t.\t.\t.",  # chrM -> MT alias
        "chrUn\t5\tunknown\tA\tC\t.\t.\t.",  # contig neither in the header nor in the FASTA
    ]


@pytest.fixture(scope="module")
def sink_vcf(tmp_path_factory, genome_seqs):
    info = '##INFO=<ID=DP,Number=1,Type=Integer,Description="depth">\n'
    info += '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="sv">\n'
    return write_vcf(
        tmp_path_factory.mktemp("vcf") / "sink.vcf", kitchen_sink(genome_seqs), {"chr1": 3001, "chrM": 700}, info
    )


def _records(path):
    with pysam.VariantFile(str(path)) as fh:
        return [(r.chrom, r.pos, r.id, r.ref, r.alts, dict(r.info)) for r in fh]


def test_kitchen_sink_every_record_kept_and_flagged(tmp_path, sink_vcf, fasta):
    out = tmp_path / "out.vcf.gz"
    summary = score_vcf(sink_vcf, fasta, out, ScoreVcfConfig(ref_check="warn", **CFG), kmer=2, progress=False)
    recs = {r[2]: r for r in _records(out)}
    assert list(recs) == [line.split("\t")[2] for line in kitchen_sink_ids()]
    info = {k: v[5] for k, v in recs.items()}
    assert info["first"]["GM_KIND"] == ("snv",) and info["first"]["GM_FLAG"] == ("NEAR_END",)
    assert info["first"]["GM_LLR"][0] is not None and info["first"]["DP"] == 3  # input fields kept
    assert len(info["multi"]["GM_LLR"]) == 3 and all(x is not None for x in info["multi"]["GM_LLR"])
    assert info["del"]["GM_KIND"] == ("del",) and "HAPLOTYPE_SCORE" in info["del"]["GM_FLAG"][0]
    assert info["del"]["GM_LLR"][0] is not None and info["del"]["UNDECLARED"] == "x"
    assert info["ins"]["GM_KIND"] == ("ins",) and info["ins"]["GM_LLR"][0] is not None
    assert info["sym"]["GM_FLAG"] == ("SYMBOLIC",) and info["sym"]["GM_LLR"] == (None,)
    assert info["star"]["GM_FLAG"][0] == "SPANNING_DELETION" and info["star"]["GM_LLR"][0] is None
    assert info["star"]["GM_LLR"][1] is not None  # the other ALT of the same record is scored
    assert info["bnd"]["GM_FLAG"] == ("BREAKEND",)
    assert info["mismatch"]["GM_FLAG"] == ("REF_MISMATCH",) and info["mismatch"]["GM_LLR"] == (None,)
    assert info["last"]["GM_FLAG"] == ("NEAR_END",) and info["last"]["GM_LLR"][0] is not None
    assert info["mito"]["GM_LLR"][0] is not None and info["mito"]["GM_FLAG"] == (".",)
    assert info["unknown"]["GM_FLAG"] == ("UNKNOWN_CONTIG",)
    assert summary["records"] == 11 and summary["records_ref_mismatch"] == 1
    assert summary["unknown_contigs"] == ["chrUn"]
    assert "INFO/UNDECLARED" in summary["header_definitions_added"]
    assert summary["flagged_alleles"]["SYMBOLIC"] == 1 and summary["flagged_alleles"]["REF_MISMATCH"] == 1
    # round trip: indexed, fetchable, provenance in the header
    assert (tmp_path / "out.vcf.gz.tbi").is_file()
    with pysam.VariantFile(str(out)) as fh:
        assert [r.id for r in fh.fetch("chr1", 99, 101)] == ["multi"]
        meta = {r.key: r.value for r in fh.header.records if r.key.startswith("genomamba_")}
    assert {"genomamba_version", "genomamba_reference_md5", "genomamba_context", "genomamba_strand_policy"} <= set(meta)
    assert meta["genomamba_context"] == "128"


SINK_IDS = ("first", "multi", "del", "ins", "sym", "star", "bnd", "mismatch", "last", "mito", "unknown")


def kitchen_sink_ids():
    return [f"x\tx\t{i}" for i in SINK_IDS]


def test_ref_mismatch_policies(tmp_path, sink_vcf, fasta):
    with pytest.raises(GenomambaError, match=r"line 14.*REF .* does not match"):
        score_vcf(sink_vcf, fasta, tmp_path / "o.vcf.gz", ScoreVcfConfig(**CFG), kmer=2, progress=False)
    assert not list(tmp_path.iterdir())  # nothing written, not even temporaries
    summary = score_vcf(
        sink_vcf, fasta, tmp_path / "o.tsv", ScoreVcfConfig(ref_check="skip", **CFG), kmer=2, progress=False
    )
    assert summary["records_ref_mismatch"] == 1


def test_cli_errors_name_the_line(tmp_path, sink_vcf, fasta):
    kmer = ["--fasta", str(fasta), "--kmer-baseline", "2", "--out", str(tmp_path / "o.vcf.gz")]
    proc = run_cli("score-vcf", "--vcf", str(sink_vcf), "--context", "128", *kmer, check=False)
    assert proc.returncode == 2
    assert f"genomamba score-vcf: {sink_vcf}:line 14: REF" in proc.stderr
    bad = tmp_path / "bad.vcf"
    lines = sink_vcf.read_text().splitlines()
    lines[-3] = "chr1\tnot_a_number\t.\tA\tC\t.\t.\t."
    bad.write_text("\n".join(lines) + "\n")
    proc = run_cli("score-vcf", "--vcf", str(bad), *kmer, check=False)
    assert proc.returncode == 2
    n = len(lines) - 2
    assert f"{bad}:line {n}: malformed VCF record" in proc.stderr and "not_a_number" in proc.stderr
    assert not (tmp_path / "o.vcf.gz").exists()


def test_gzip_bgzip_bcf_give_identical_scores(tmp_path, sink_vcf, fasta):
    bgz = tmp_path / "in.vcf.gz"
    pysam.tabix_compress(str(sink_vcf), str(bgz))
    gz = tmp_path / "plain.vcf.gz"
    with open(sink_vcf, "rb") as fin, gzip.open(gz, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    bcf = tmp_path / "in.bcf"
    # a BCF needs every definition in its header: convert the scored (header-complete) VCF's input part
    complete = tmp_path / "complete.vcf"
    with pysam.VariantFile(str(sink_vcf)) as fin:
        for _ in fin:
            pass
        hdr = fin.header.copy()
    hdr.info.add("END", 1, "Integer", "End position")  # htslib writes END for symbolic alleles
    complete.write_text(str(hdr) + "".join(x for x in sink_vcf.read_text().splitlines(True) if x[0] != "#"))
    with pysam.VariantFile(str(complete)) as fin, pysam.VariantFile(str(bcf), "wb", header=fin.header) as fout:
        for rec in fin:
            fout.write(rec)
    cfg = ScoreVcfConfig(ref_check="skip", **CFG)
    results = []
    for i, src in enumerate((sink_vcf, bgz, gz, bcf)):
        out = tmp_path / f"o{i}.tsv"
        score_vcf(src, fasta, out, cfg, kmer=2, progress=False)
        rows = [x for x in out.read_text().splitlines() if not x.startswith("#")]
        results.append(rows)
    assert len(results[0]) == 1 + 14  # header + one row per ALT allele
    assert results[0] == results[1] == results[2] == results[3]


def test_outputs_tsv_parquet_bcf(tmp_path, sink_vcf, fasta):
    import polars as pl

    cfg = ScoreVcfConfig(ref_check="skip", keep_info=["DP"], **CFG)
    score_vcf(sink_vcf, fasta, tmp_path / "o.parquet", cfg, kmer=2, progress=False)
    score_vcf(sink_vcf, fasta, tmp_path / "o.tsv", cfg, kmer=2, progress=False)
    score_vcf(sink_vcf, fasta, tmp_path / "o.bcf", cfg, kmer=2, progress=False)
    pq = pl.read_parquet(tmp_path / "o.parquet")
    tsv = pl.read_csv(tmp_path / "o.tsv", separator="\t", comment_prefix="#", null_values=["NA"])
    assert pq.height == tsv.height == 14
    assert pq.columns[:10] == ["chrom", "pos", "id", "ref", "alt", "kind", "llr", "llr_fwd", "llr_rev", "flags"]
    assert pq.filter(pl.col("id") == "multi").height == 3 and pq["DP"].to_list()[0] == "3"
    np.testing.assert_allclose(pq["llr"].fill_null(np.nan).to_numpy(), tsv["llr"].fill_null(np.nan).to_numpy())
    assert (tmp_path / "o.bcf.csi").is_file()
    assert [r[2] for r in _records(tmp_path / "o.bcf")] == [x.split("\t")[2] for x in kitchen_sink_ids()]


def _score_cli(sink_vcf, fasta, out, *extra: str) -> list[str]:
    return ["score-vcf", "--vcf", str(sink_vcf), "--fasta", str(fasta), "--kmer-baseline", "2", "--context", "128",
            "--ref-check", "skip", "--out", str(out), *extra]  # fmt: skip


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("genomamba score-vcf: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(
    "summary, problem",
    [("adir", "expected a file name ending in .json"), ("s5.txt", "ending in .json"), ("d.json", "is a directory")],
)
def test_cli_bad_summary_path_fails_before_scoring(tmp_path, sink_vcf, fasta, capsys, monkeypatch, summary, problem):
    from genomamba import vep
    from genomamba.cli import main

    def forbidden(*args, **kwargs):
        raise AssertionError("scoring started before --summary was checked")

    monkeypatch.setattr(vep, "score_vcf", forbidden)
    (tmp_path / "adir").mkdir()
    (tmp_path / "d.json").mkdir()
    bad = tmp_path / summary
    assert main(_score_cli(sink_vcf, fasta, tmp_path / "o.tsv", "--summary", str(bad))) == 2
    err = _one_line_error(capsys)
    assert f"{bad}: " in err and problem in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "d.json"]  # no scores


@pytest.mark.parametrize("name, fmt, named", [("o5.tsv", "parquet", "tsv"), ("o5.vcf.gz", "vcf", "vcf.gz")])
def test_cli_format_that_contradicts_the_extension_is_refused(tmp_path, sink_vcf, fasta, capsys, name, fmt, named):
    from genomamba.cli import main

    out = tmp_path / name
    assert main(_score_cli(sink_vcf, fasta, out, "--format", fmt)) == 2
    err = _one_line_error(capsys)
    assert f"{out}: is named like a {named} file, but --format asks for {fmt}" in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, fmt", [("o6.tsv.gz", "tsv"), ("o6.parquet.gz", None), ("o6.vcf.zst", "vcf")])
def test_cli_compressed_name_of_an_uncompressed_format_is_refused(tmp_path, sink_vcf, fasta, capsys, name, fmt):
    from genomamba.cli import main

    out = tmp_path / name  # only .vcf.gz is compressed: plain text under a .gz name would fail every reader
    assert main(_score_cli(sink_vcf, fasta, out, *(["--format", fmt] if fmt else []))) == 2
    err = _one_line_error(capsys)
    assert f"{out}: is named like a compressed file, but only VCF output is compressed" in err, err
    assert list(tmp_path.iterdir()) == []


def test_cli_format_of_a_name_that_names_none_and_the_summary(tmp_path, sink_vcf, fasta):
    import json

    from genomamba.cli import main

    out, summary = tmp_path / "scores.out", tmp_path / "run.json"
    assert main(_score_cli(sink_vcf, fasta, out, "--format", "tsv", "--summary", str(summary))) == 0
    assert out.read_text().startswith("#genomamba_")  # the format asked for, under the name given
    assert json.loads(summary.read_text())["alleles"] == 14
    assert main(_score_cli(sink_vcf, fasta, tmp_path / "o.tsv", "--format", "tsv")) == 0  # agreeing: fine


def test_empty_vcf_and_unsorted_input(tmp_path, fasta, genome_seqs):
    empty = write_vcf(tmp_path / "empty.vcf", [], {"1": 3001})
    out = tmp_path / "empty.out.vcf.gz"
    summary = score_vcf(empty, fasta, out, ScoreVcfConfig(**CFG), kmer=2, progress=False)
    assert summary["records"] == 0 and _records(out) == [] and (tmp_path / "empty.out.vcf.gz.tbi").is_file()
    s1 = genome_seqs["1"]
    recs = [f"1\t{p}\tv{p}\t{s1[p - 1]}\t{'A' if s1[p - 1] != 'A' else 'C'}\t.\t.\t." for p in (2500, 40, 1700, 41)]
    unsorted = write_vcf(tmp_path / "unsorted.vcf", recs, {"1": 3001})
    out = tmp_path / "unsorted.out.vcf.gz"
    score_vcf(unsorted, fasta, out, ScoreVcfConfig(**CFG), kmer=2, progress=False)
    got = _records(out)
    assert [r[1] for r in got] == [40, 41, 1700, 2500]  # sorted so that it could be indexed
    assert (tmp_path / "unsorted.out.vcf.gz.tbi").is_file()
    # regions: only the overlapping records
    score_vcf(unsorted, fasta, tmp_path / "r.tsv", ScoreVcfConfig(**CFG), kmer=2, regions="1:30-50", progress=False)
    rows = [x for x in (tmp_path / "r.tsv").read_text().splitlines() if not x.startswith(("#", "chrom"))]
    assert sorted(int(x.split("\t")[1]) for x in rows) == [40, 41]


def test_interrupted_run_leaves_nothing(tmp_path, sink_vcf, fasta, monkeypatch):
    from genomamba.vep import engine as vep

    calls = {"n": 0}
    real = vep.VariantEffectScorer.score

    def boom(self, variants):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, variants)

    monkeypatch.setattr(vep.VariantEffectScorer, "score", boom)
    out_dir = tmp_path / "outdir"
    with pytest.raises(KeyboardInterrupt):
        cfg = ScoreVcfConfig(ref_check="skip", chunk_records=4, **CFG)
        score_vcf(sink_vcf, fasta, out_dir / "o.vcf.gz", cfg, kmer=2, progress=False)
    assert calls["n"] == 2 and list(out_dir.iterdir()) == []


def test_model_checkpoint_end_to_end(tmp_path, sink_vcf, fasta, head_checkpoint):
    out = tmp_path / "m.vcf.gz"
    model = ["--checkpoint", str(head_checkpoint), "--context", "128", "--backend", "ref", "--ref-check", "warn"]
    proc = run_cli("score-vcf", "--vcf", str(sink_vcf), "--fasta", str(fasta), *model, "--out", str(out))
    assert "11 records, 14 ALT alleles" in proc.stderr and "REF mismatches 1" in proc.stderr
    recs = {r[2]: r[5] for r in _records(out)}
    assert recs["multi"]["GM_LLR"][0] is not None and recs["multi"]["GM_LLR_REV"] == (None,) * 3  # equivariant
    with pysam.VariantFile(str(out)) as fh:
        meta = {r.key: r.value for r in fh.header.records if r.key.startswith("genomamba_")}
    assert len(meta["genomamba_checkpoint_sha256"]) == 64 and "fusion=head" in meta["genomamba_model"]


def test_supervised_mode_with_a_sequence_head(tmp_path, sink_vcf, fasta):
    import torch

    from genomamba.model import GenomambaForSequence, HeadConfig

    from .conftest import tiny_model

    torch.manual_seed(0)
    net = GenomambaForSequence(tiny_model("head"), HeadConfig(n_outputs=2, pooling="center", strands="forward"))
    ckpt = tmp_path / "ft"
    net.eval().save_pretrained(ckpt, extra={"finetune": {"task": "classification", "classes": ["neg", "pos"]}})
    out = tmp_path / "sup.tsv"
    cfg = ScoreVcfConfig(ref_check="skip", **CFG)
    summary = score_vcf(sink_vcf, fasta, out, cfg, checkpoint=str(ckpt), backend="ref", progress=False)
    import polars as pl

    df = pl.read_csv(out, separator="\t", comment_prefix="#", null_values=["NA"])
    assert "delta" in df.columns and summary["supervised_passes"] == summary["scored_alleles"] == 9
    row = df.filter(pl.col("id") == "first")
    # recompute: P(pos | alt window) - P(pos | ref window), window of 128 centred (shifted inside) on the variant
    seq = fasta.read_text().split(">")[1].split("\n", 1)[1].replace("\n", "")
    from genomamba.alphabet import encode

    ref_w = encode(seq[:128]).astype(np.int64)
    alt_w = ref_w.copy()
    alt_w[0] = "ACGT".index(row["alt"][0])
    with torch.inference_mode():
        p = torch.softmax(net(torch.from_numpy(np.stack([ref_w, alt_w]))), dim=-1)[:, 1]
    assert row["delta"][0] == pytest.approx(float(p[1] - p[0]), abs=1e-6)
    assert any(x.startswith("#genomamba_model=fine-tuned sequence head") for x in out.read_text().splitlines())


def test_missing_fileformat_line_and_no_header(tmp_path, fasta, genome_seqs):
    s1 = genome_seqs["1"]
    bare = tmp_path / "bare.vcf"
    bare.write_text(
        f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t500\tv\t{s1[499]}\tN\t.\t.\t.\n1\t600\tw\tN\tA\t.\t.\t.\n"
    )
    with pytest.raises(GenomambaError, match="line 3: REF N does not match"):  # line numbers of the user's file
        score_vcf(bare, fasta, tmp_path / "o.tsv", ScoreVcfConfig(**CFG), kmer=2, progress=False)
    summary = score_vcf(
        bare, fasta, tmp_path / "o.tsv", ScoreVcfConfig(ref_check="warn", **CFG), kmer=2, progress=False
    )
    assert summary["records"] == 2 and summary["flagged_alleles"]["NON_ACGT"] == 2
    assert "fileformat" in summary["header_definitions_added"]
    (tmp_path / "none.vcf").write_text("1\t500\t.\tA\tC\t.\t.\t.\n")
    with pytest.raises(GenomambaError, match="line 1: no VCF header"):
        score_vcf(tmp_path / "none.vcf", fasta, tmp_path / "p.tsv", ScoreVcfConfig(**CFG), kmer=2, progress=False)
