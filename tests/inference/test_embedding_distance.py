"""``score-vcf --score embedding-distance``: 1 - cosine of the hidden states at the variant (ALT vs REF window,
BEND's protocol), the LLR's windows and strand policy, SNVs only; VCF and table outputs name the score."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from genomamba.alphabet import encode
from genomamba.model import GenomambaModel
from genomamba.vep import ScoreVcfConfig, score_vcf
from genomamba.vep.alleles import make_tiling
from tests.inference.conftest import cli_error
from tests.vep.conftest import write_vcf

POSITIONS = (5, 200, 640, 1300, 2490)  # 0-based; near both ends and across tiles


def _records(seq: str) -> list[str]:
    out = []
    for p in POSITIONS:
        alt = "ACGT"[("ACGT".index(seq[p]) + 1) % 4]
        out.append(f"chrA\t{p + 1}\tv{p}\t{seq[p]}\t{alt}\t.\t.\t.")
    out.append(f"chrA\t901\tindel\t{seq[900]}\t{seq[900]}A\t.\t.\t.")  # an insertion: not an SNV
    return out


def _expected(checkpoint, seq: str, p: int, alt: str, context: int, strand: str) -> float:
    model = GenomambaModel.from_pretrained(checkpoint)
    tiling = make_tiling(len(seq), context)
    ws, we = tiling.window(tiling.tile_of(p))
    ref = encode(seq[ws:we]).astype(np.int64)
    mut = ref.copy()
    mut[p - ws] = "ACGT".index(alt)
    i = p - ws
    if strand == "rev":
        ref, mut, i = (3 - ref)[::-1].copy(), (3 - mut)[::-1].copy(), ref.size - 1 - i
    with torch.inference_mode():
        h = model.hidden_states(torch.from_numpy(np.stack([ref, mut])))[:, i].double()
    return float(1 - torch.nn.functional.cosine_similarity(h[0], h[1], dim=0))


@pytest.mark.parametrize("design, strands", [("head", "auto"), ("layer", "both")])
def test_distance_is_the_cosine_of_hidden_states(checkpoints, fasta, genome_seqs, tmp_path, design, strands):
    seq = genome_seqs["chrA"]
    vcf = write_vcf(tmp_path / "v.vcf", _records(seq))
    out = tmp_path / "s.tsv"
    cfg = ScoreVcfConfig(context=128, score="embedding-distance", strands=strands, device="cpu", batch_size=3)
    summary = score_vcf(vcf, fasta, out, cfg, checkpoint=str(checkpoints[design]), progress=False)
    df = pl.read_csv(out, separator="\t", comment_prefix="#", null_values=["NA"])
    assert {"embedding_distance", "embedding_distance_fwd", "embedding_distance_rev"} <= set(df.columns)
    assert summary["scored_alleles"] == len(POSITIONS) and summary["embedding_passes"] > 0
    indel = df.filter(pl.col("id") == "indel").row(0, named=True)
    assert indel["embedding_distance"] is None and "SNV_ONLY_SCORE" in indel["flags"]
    for row in df.filter(pl.col("id") != "indel").iter_rows(named=True):
        p = row["pos"] - 1
        fwd = _expected(checkpoints[design], seq, p, row["alt"], 128, "fwd")
        assert row["embedding_distance_fwd"] == pytest.approx(fwd, abs=1e-5) and fwd > 0
        if strands == "both":
            rev = _expected(checkpoints[design], seq, p, row["alt"], 128, "rev")
            assert row["embedding_distance_rev"] == pytest.approx(rev, abs=1e-5)
            assert row["embedding_distance"] == pytest.approx((fwd + rev) / 2, abs=1e-5)
        else:
            assert row["embedding_distance_rev"] is None and row["embedding_distance"] == row["embedding_distance_fwd"]


def test_equivariant_model_gives_one_value_on_both_strands(checkpoints, fasta, genome_seqs, tmp_path):
    vcf = write_vcf(tmp_path / "v.vcf", _records(genome_seqs["chrA"]))
    out = tmp_path / "s.parquet"
    cfg = ScoreVcfConfig(context=128, score="embedding-distance", strands="both", device="cpu")
    score_vcf(vcf, fasta, out, cfg, checkpoint=str(checkpoints["head"]), progress=False)
    df = pl.read_parquet(out).drop_nulls("embedding_distance")
    np.testing.assert_allclose(df["embedding_distance_fwd"], df["embedding_distance_rev"], atol=1e-5)


def test_vcf_output_names_the_score(checkpoints, fasta, genome_seqs, tmp_path):
    import pysam

    vcf = write_vcf(tmp_path / "v.vcf", _records(genome_seqs["chrA"]), contigs={"chrA": 2500, "chrB": 900})
    out = tmp_path / "s.vcf.gz"
    cfg = ScoreVcfConfig(context=128, score="embedding-distance", device="cpu")
    score_vcf(vcf, fasta, out, cfg, checkpoint=str(checkpoints["head"]), progress=False)
    with pysam.VariantFile(str(out)) as fh:
        assert {"GM_EMBDIST", "GM_KIND", "GM_FLAG"} <= set(fh.header.info) and "GM_LLR" not in fh.header.info
        recs = list(fh)
    assert recs[0].info["GM_EMBDIST"][0] > 0 and recs[0].info["GM_KIND"] == ("snv",)
    assert any(r.info["GM_FLAG"] == ("SNV_ONLY_SCORE",) for r in recs)


def test_embedding_distance_needs_a_pretrained_lm(checkpoints, seq_head_checkpoint, fasta, tmp_path):
    vcf = write_vcf(tmp_path / "v.vcf", ["chrA\t10\t.\tA\tC\t.\t.\t."])
    base = (
        "score-vcf",
        "--vcf",
        str(vcf),
        "--fasta",
        str(fasta),
        "--score",
        "embedding-distance",
        "--ref-check",
        "skip",
        "--out",
        str(tmp_path / "o.tsv"),
    )
    assert "has no embeddings" in cli_error(*base, "--kmer-baseline", "2")
    assert "needs a pretrained LM" in cli_error(*base, "--checkpoint", str(seq_head_checkpoint))
    assert not (tmp_path / "o.tsv").exists()
