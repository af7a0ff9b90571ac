"""Gene-centric sampling (data.genic_weight, genomamba.pretrain.genic): exon intervals in token coordinates, crops
drawn towards exons in proportion to the weight, the unchanged stream at weight 1, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from genomamba.errors import GenomambaError
from genomamba.pretrain import genic
from genomamba.pretrain.config import DataConfig, SourceConfig
from genomamba.pretrain.data import PretrainDataModule

GFF = """##gff-version 3
{chrom}\t.\tgene\t{a}\t{d}\t.\t+\t.\tID=g{i}
{chrom}\t.\tmRNA\t{a}\t{d}\t.\t+\t.\tID=t{i};Parent=g{i}
{chrom}\t.\texon\t{a}\t{b}\t.\t+\t.\tParent=t{i}
{chrom}\t.\texon\t{c}\t{d}\t.\t+\t.\tParent=t{i}
"""


def _gff(path, genes) -> str:
    """genes: (chrom, a, b, c, d) 1-based inclusive exon bounds [a, b] and [c, d] of one transcript each."""
    path.write_text("".join(GFF.format(chrom=g[0], a=g[1], b=g[2], c=g[3], d=g[4], i=i).split("##gff-version 3\n")[-1]
                            for i, g in enumerate(genes)))  # fmt: skip
    return str(path)


def test_exon_intervals_are_merged_and_shifted_to_token_offsets(tmp_path):
    contigs = pl.DataFrame({"name": ["chrA", "chrB"], "offset": [0, 1000], "length": [1000, 500]})
    _gff(tmp_path / "a.gff3", [("chrA", 11, 20, 15, 30), ("chrB", 1, 10, 491, 600), ("chrZ", 1, 5, 7, 9)])
    starts, ends = genic.exon_intervals(tmp_path / "a.gff3", contigs)
    assert starts.tolist() == [10, 1000, 1490] and ends.tolist() == [30, 1010, 1500]  # clipped at chrB's end
    assert genic.covered(starts, ends, np.array([0, 10, 20, 30, 1005, 2000])).tolist() == [0, 0, 10, 20, 25, 40]
    _gff(tmp_path / "z.gff3", [("chrZ", 1, 5, 7, 9)])
    with pytest.raises(GenomambaError, match="no transcript on the windows' sequences.*chrZ"):
        genic.exon_intervals(tmp_path / "z.gff3", contigs)


def _dm(windows_dir, weight: float, annotation: str) -> PretrainDataModule:
    src = SourceConfig(path=str(windows_dir), name="synth", annotation=annotation)
    cfg = DataConfig(seq_len=128, tokens_per_micro_batch=512, max_eval_tiles=8, sources=[src], genic_weight=weight)
    dm = PretrainDataModule(None, cfg, "all", True, accumulate=1, max_steps=400, seed=3)
    dm.check()
    return dm


def _exonic_share(dm: PretrainDataModule, exons) -> tuple[float, np.ndarray]:
    """(mean exonic fraction of the crops of 400 micro-batches, their starts)."""
    ds = dm.train_dataloader().dataset
    starts = np.concatenate([ds.positions(i)[1] for i in range(400)])
    return float(((genic.covered(*exons, starts + 128) - genic.covered(*exons, starts)) / 128).mean()), starts


def test_crops_lean_towards_exons_in_proportion_to_the_weight(windows_dir, tmp_path):
    gff = _gff(tmp_path / "g.gff3", [("chrA", 2001, 2600, 3001, 4000), ("chrB", 6001, 6400, 6801, 7600)])
    uniform, weighted = _dm(windows_dir, 1.0, gff), _dm(windows_dir, 20.0, gff)
    assert uniform.sources[0].exons is None  # weight 1: the annotation is not even read
    exons = weighted.sources[0].exons
    base, _ = _exonic_share(uniform, exons)
    share, starts = _exonic_share(weighted, exons)
    # the expected share of exonic bases under the bin weights, against what the sampler drew
    train = weighted.sources[0].splits["train"]
    first, count, cum = genic.weighted_bins(train, 128, exons, 20.0)
    w = np.diff(np.concatenate([[0.0], cum]))
    f = (w / count - 1.0) / 19.0
    expected = float((w * f).sum() / w.sum())
    assert share == pytest.approx(expected, abs=0.05)
    assert share > 3 * base and base > 0
    ends = train[:, 0] + train[:, 1]
    inside = [(train[:, 0] <= s).any() and ((train[:, 0] <= s) & (s + 128 <= ends)).any() for s in starts]
    assert all(inside)  # still crops of train windows, whole


def test_weight_one_keeps_the_uniform_stream(windows_dir, tmp_path):
    gff = _gff(tmp_path / "g.gff3", [("chrA", 2001, 2600, 3001, 4000)])
    plain = PretrainDataModule(windows_dir, DataConfig(seq_len=128, tokens_per_micro_batch=512), "all", True, 1, 50, 3)
    plain.check()
    a = plain.train_dataloader().dataset
    b = _dm(windows_dir, 1.0, gff).train_dataloader().dataset
    for i in (0, 7, 49):
        assert np.array_equal(a.positions(i)[1], b.positions(i)[1])


def test_bad_genic_settings(windows_dir, tmp_path):
    for bad in (0.5, 1001.0, float("nan")):
        with pytest.raises(ValueError, match="genic_weight"):
            DataConfig(genic_weight=bad)
    with pytest.raises(GenomambaError, match="not found"):
        _dm(windows_dir, 5.0, str(tmp_path / "absent.gff3"))
    with pytest.raises(GenomambaError, match="'synth'.*known genome name"):
        _dm(windows_dir, 5.0, "auto")


def test_pretrain_with_gene_centric_sampling_records_it(windows_dir, tmp_path, fast_overrides):
    root = Path(__file__).resolve().parents[2]
    gff = _gff(tmp_path / "g.gff3", [("chrA", 2001, 2600, 3001, 4000), ("chrB", 6001, 6400, 6801, 7600)])
    out = tmp_path / "run"
    src = f"data.sources=[{{name: synth, path: '{windows_dir}', annotation: '{gff}'}}]"
    cmd = [sys.executable, "-m", "genomamba", "-q", "pretrain", "--no-progress-bar", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONWARNINGS": "ignore"}
    r = subprocess.run([*cmd, *fast_overrides, src, "data.genic_weight=4"], env=env, cwd=root, capture_output=True,
                       text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    genic_info = json.loads((out / "summary.json").read_text())["genomes"]["synth"]["genic"]
    assert genic_info["annotation"] == gff and genic_info["genic_weight"] == 4.0
    assert 0.0 < genic_info["exonic_fraction_of_train_bases"] < 0.2
