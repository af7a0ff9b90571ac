"""The provenance and summary read the window geometry from Tiling (the stride loses a base for parity)."""

from __future__ import annotations

import pysam

from genomamba.vep import ScoreVcfConfig, score_vcf
from genomamba.vep.alleles import make_tiling
from genomamba.vep.provenance import tiling_groups, tiling_text

from .conftest import write_vcf


def test_provenance_stride_is_the_tilings_on_a_parity_contig(tmp_path, fasta, genome_seqs):
    context = 128
    length = len(genome_seqs["1"])
    tiling = make_tiling(length, context)
    # contig "1" has odd length: the tiling drops one base from the stride so the layout stays mirror-symmetric
    assert tiling.stride == context - 2 * (context // 4) - 1
    s1 = genome_seqs["1"]
    vcf = write_vcf(tmp_path / "v.vcf", [f"1\t1500\t.\t{s1[1499]}\t{'A' if s1[1499] != 'A' else 'C'}\t.\t.\t."])
    out = tmp_path / "o.vcf.gz"
    summary = score_vcf(vcf, fasta, out, ScoreVcfConfig(context=context), kmer=1, progress=False)
    groups = {name: g for g in summary["tiling"] for name in g["contigs"]}
    assert groups["1"]["stride"] == tiling.stride and groups["1"]["window"] == tiling.window_length
    mt = make_tiling(len(genome_seqs["MT"]), context)
    assert groups["MT"]["stride"] == mt.stride == context - 2 * (context // 4)  # even length: no base dropped
    with pysam.VariantFile(str(out)) as fh:
        meta = {r.key: r.value for r in fh.header.records if r.key.startswith("genomamba_")}
    assert (
        f"window {tiling.window_length}, stride {tiling.stride}, flank {tiling.flank} on 1"
        in meta["genomamba_window_policy"]
    )


def test_tiling_groups_short_contigs_and_long_lists():
    tilings = {f"c{i}": make_tiling(1000 + i, 128) for i in range(10)}
    tilings["tiny"] = make_tiling(90, 128)
    groups = tiling_groups(tilings)
    by_stride = {g["stride"]: g for g in groups}
    assert sorted(len(g["contigs"]) for g in groups) == [1, 5, 5]
    assert by_stride[None]["contigs"] == ["tiny"] and by_stride[None]["window"] == "whole contig"
    assert {by_stride[64]["window"], by_stride[63]["window"]} == {128, 127}
    text = tiling_text(groups)
    assert "(+1 more)" in text and "window whole contig, flank 32 on tiny" in text
