"""``genomamba ism``: one-pass ISM equals the per-variant LLRs score-vcf computes (same windows, strands, read-out),
for every model design and for fine-tuned heads; bigWig min/mean summarise the Parquet; bad input is one line."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from genomamba.genome.fasta import Genome
from genomamba.infer.config import IsmConfig
from genomamba.infer.ism_run import run_ism
from genomamba.infer.regions import Region
from genomamba.vep import ScoreVcfConfig, score_vcf
from tests.inference.conftest import cli_error, run_cli
from tests.vep.conftest import write_vcf


def _all_snvs_vcf(path, seq: str, contig: str, start: int, end: int):
    """Every SNV of [start, end) (0-based) as multi-allelic VCF records (A/C/G/T references only)."""
    records = [
        f"{contig}\t{p + 1}\t.\t{seq[p]}\t{','.join(b for b in 'ACGT' if b != seq[p])}\t.\t.\t."
        for p in range(start, end)
        if seq[p] in "ACGT"
    ]
    return write_vcf(path, records)


def _ism(checkpoint, fasta, region: Region, tmp_path, **fields) -> tuple[pl.DataFrame, dict]:
    out = tmp_path / f"ism_{len(list(tmp_path.iterdir()))}"
    with Genome(fasta) as genome:
        record = run_ism(checkpoint, genome, [region], out, IsmConfig(device="cpu", **fields), backend="cpu")
    return pl.read_parquet(out / "ism.parquet"), record


def _vcf_scores(checkpoint, fasta, vcf, tmp_path, **fields) -> pl.DataFrame:
    out = tmp_path / f"vcf_{len(list(tmp_path.iterdir()))}.parquet"
    cfg = ScoreVcfConfig(device="cpu", per_variant=True, **fields)
    score_vcf(vcf, fasta, out, cfg, checkpoint=str(checkpoint), backend="cpu", progress=False)
    return pl.read_parquet(out)


@pytest.mark.parametrize(
    "design, strands, region",
    [("head", "auto", (1000, 1150)), ("head", "both", (0, 70)), ("layer", "auto", (2460, 2500))],
)
def test_one_pass_ism_equals_per_variant_llrs(checkpoints, fasta, genome_seqs, tmp_path, design, strands, region):
    lo, hi = region
    ism, record = _ism(checkpoints[design], fasta, Region("chrA", lo, hi), tmp_path, context=128, strands=strands)
    vcf = _all_snvs_vcf(tmp_path / "all.vcf", genome_seqs["chrA"], "chrA", lo, hi)
    ref = _vcf_scores(checkpoints[design], fasta, vcf, tmp_path, context=128, strands=strands)
    assert ism.height == ref.height == 3 * (hi - lo)
    joined = ism.join(ref.select("pos", "alt", pl.col("llr").alias("vcf_llr"), "flags"), on=["pos", "alt"])
    assert joined.height == ism.height
    np.testing.assert_allclose(joined["llr"].to_numpy(), joined["vcf_llr"].to_numpy(), atol=1e-5)
    assert (joined["near_end"] == joined["flags"].str.contains("NEAR_END")).all()
    if design == "head":  # one pass per tile (and strand) against score-vcf's pass per variant
        n = 1 if record["strands"] == "forward" else 2
        assert record["sequences_scored"] * 10 < ism.height * n
        assert set(ism.columns) >= ({"llr_fwd", "llr_rev"} if n == 2 else {"llr"})


def test_per_variant_mode_gives_the_same_scores(checkpoints, fasta, tmp_path):
    region = Region("chrA", 500, 540)
    one, rec_one = _ism(checkpoints["head"], fasta, region, tmp_path, context=128)
    many, rec_many = _ism(checkpoints["head"], fasta, region, tmp_path, context=128, per_variant=True)
    np.testing.assert_allclose(one["llr"].to_numpy(), many["llr"].to_numpy(), atol=1e-6)
    from genomamba.vep.alleles import make_tiling

    tiling = make_tiling(2500, 128)
    n_tiles = len({tiling.tile_of(p) for p in range(500, 540)})
    assert rec_many["sequences_scored"] == 3 * 40 and rec_one["sequences_scored"] == n_tiles


def test_supervised_ism_equals_score_vcf_delta(seq_head_checkpoint, fasta, genome_seqs, tmp_path):
    ism, record = _ism(seq_head_checkpoint, fasta, Region("chrA", 10, 40), tmp_path, context=96, chunk_bases=7)
    vcf = _all_snvs_vcf(tmp_path / "all.vcf", genome_seqs["chrA"], "chrA", 10, 40)
    ref = _vcf_scores(seq_head_checkpoint, fasta, vcf, tmp_path, context=96)
    joined = ism.join(ref.select("pos", "alt", pl.col("delta").alias("vcf_delta")), on=["pos", "alt"])
    assert record["score"] == "delta" and joined.height == ism.height == 90
    np.testing.assert_allclose(joined["delta"].to_numpy(), joined["vcf_delta"].to_numpy(), atol=1e-6)


def test_cli_outputs_and_bigwigs(checkpoints, fasta, genome_seqs, tmp_path):
    import pyBigWig

    out = tmp_path / "ism"
    r = run_cli(
        "ism",
        "--checkpoint",
        str(checkpoints["head"]),
        "--fasta",
        str(fasta),
        "--regions",
        "chrB:291-360",
        "--context",
        "128",
        "--out",
        str(out),
    )
    summary = json.loads(r.stdout)
    table = pl.read_parquet(out / "ism.parquet")
    assert summary["rows"] == table.height == 3 * 30  # positions 300-339 are N: no rows
    by_pos = table.group_by("pos").agg(pl.col("llr").min().alias("min"), pl.col("llr").mean().alias("mean"))
    by_pos = by_pos.sort("pos")
    for name in ("min", "mean"):
        bw = pyBigWig.open(str(out / f"{name}.bw"))
        assert bw.chroms() == {k: len(v) for k, v in genome_seqs.items()}
        values = np.array(bw.values("chrB", 290, 360))
        bw.close()
        assert np.isnan(values[10:50]).all()
        got = values[np.isfinite(values)]
        np.testing.assert_allclose(got, by_pos[name].to_numpy(), atol=1e-5)
    assert json.loads((out / "ism.json").read_text())["config"]["context"] == 128


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--regions", "chrA", "--max-bases", "100"), "exceed max_bases 100"),
        (("--regions", "chrQ:1-5"), "unknown sequence 'chrQ'"),
        (("--regions", "chrA:1-10", "--context", "32"), "context must be >= 64"),
    ],
)
def test_bad_input_is_one_line_and_leaves_nothing(checkpoints, fasta, tmp_path, extra, message):
    line = cli_error(
        "ism", "--checkpoint", str(checkpoints["head"]), "--fasta", str(fasta), "--out", str(tmp_path / "o"), *extra
    )
    assert line.startswith("genomamba ism: ") and message in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.gpu
def test_cuda_ism_matches_cpu(checkpoints, fasta, tmp_path):
    region = Region("chrA", 1000, 1100)
    cpu, _ = _ism(checkpoints["head"], fasta, region, tmp_path, context=256)
    with Genome(fasta) as genome:
        record = run_ism(checkpoints["head"], genome, [region], tmp_path / "g", IsmConfig(device="cuda", context=256))
    gpu = pl.read_parquet(tmp_path / "g" / "ism.parquet")
    assert record["device"] == "cuda"
    np.testing.assert_allclose(gpu["llr"].to_numpy(), cpu["llr"].to_numpy(), atol=2e-2)  # bf16 autocast
