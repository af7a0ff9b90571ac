"""``genomamba track``: tiled == single pass, bigWig/bedGraph readable with the FASTA's sizes, gaps at N, genes and
the browser figure, fine-tuned heads in sliding windows, and one-line errors that leave nothing behind."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genomamba.alphabet import encode
from genomamba.genome.fasta import Genome
from genomamba.infer.config import TrackConfig
from genomamba.infer.regions import Region
from genomamba.infer.track_run import make_producer
from genomamba.model import load_for_inference
from tests.inference.conftest import cli_error, run_cli


def _track(checkpoint, fasta, regions, **fields) -> dict[str, np.ndarray]:
    """Every track of ``checkpoint`` over ``regions``, concatenated (per-base producers)."""
    net, device = load_for_inference(checkpoint, "cpu", "cpu")
    with Genome(fasta) as genome:
        producer = make_producer(net, genome, TrackConfig(device="cpu", **fields), device, checkpoint)
        parts: dict[str, list] = {name: [] for name in producer.descriptions}
        for t in producer.run(regions):
            for name in parts:
                parts[name].append(t.values[name])
    return {name: np.concatenate(v) for name, v in parts.items()}


def test_tiled_equals_single_pass_one_pass_model(checkpoints, fasta):
    whole = [Region("chrA", 0, 2500)]
    single = _track(checkpoints["head"], fasta, whole, tile=100_000)  # one window: the whole sequence
    exact = _track(checkpoints["head"], fasta, whole, tile=300, margin=2500)  # margins reach both ends
    near = _track(checkpoints["head"], fasta, whole, tile=300, margin=1024)
    short = _track(checkpoints["head"], fasta, whole, tile=300, margin=64)
    for name in ("log_p_ref", "entropy"):
        np.testing.assert_allclose(exact[name], single[name], atol=1e-6, rtol=0)
        np.testing.assert_allclose(near[name], single[name], atol=1e-3, rtol=0)  # the documented tolerance
    err = {m: np.abs(t["log_p_ref"] - single["log_p_ref"]).max() for m, t in ((1024, near), (64, short))}
    assert 0 < err[1024] < err[64]  # the margin is what bounds the difference


def test_tiled_equals_single_pass_masked_model(checkpoints, fasta):
    region = [Region("chrB", 880, 900)]
    single = _track(checkpoints["layer"], fasta, region, tile=1000, margin=1000)
    tiled = _track(checkpoints["layer"], fasta, region, tile=7, margin=1000, batch_size=3)
    np.testing.assert_allclose(tiled["log_p_ref"], single["log_p_ref"], atol=1e-6)
    assert single["log_p_ref"].shape == (20,) and np.isfinite(single["log_p_ref"]).all()


def test_lm_values_are_the_model_log_probs(checkpoints, fasta, genome_seqs):
    from genomamba.model import GenomambaModel, nucleotide_log_probs

    got = _track(checkpoints["head"], fasta, [Region("chrA", 0, 2500)])
    model = GenomambaModel.from_pretrained(checkpoints["head"], backend="cpu")
    x = torch.from_numpy(encode(genome_seqs["chrA"]).astype(np.int64))[None]
    with torch.inference_mode():
        lp = nucleotide_log_probs(model, x)[0].numpy()
    np.testing.assert_allclose(got["log_p_ref"], lp[np.arange(2500), x[0].numpy()], atol=1e-5)
    np.testing.assert_allclose(got["entropy"], -(np.exp(lp) * lp).sum(1), atol=1e-5)


def test_bigwig_and_bedgraph_files(checkpoints, fasta, genome_seqs, tmp_path):
    import pyBigWig

    out = tmp_path / "t"
    run_cli(
        "track",
        "--checkpoint",
        str(checkpoints["head"]),
        "--fasta",
        str(fasta),
        "--regions",
        "chrA:101-600,chrB",
        "--out",
        str(out),
        "--formats",
        "bigwig,bedgraph",
        "--tile",
        "128",
        "--backend",
        "cpu",
    )
    bw = pyBigWig.open(str(out / "log_p_ref.bw"))
    assert bw.chroms() == {name: len(seq) for name, seq in genome_seqs.items()}  # the FASTA's sizes
    a = np.array(bw.values("chrA", 100, 600))
    b = np.array(bw.values("chrB", 0, 900))
    assert np.isfinite(a).all() and np.isnan(bw.values("chrA", 0, 100)).all()
    assert np.isnan(b[300:340]).all() and np.isfinite(np.delete(b, np.s_[300:340])).all()  # the N run is a gap
    expected = _track(checkpoints["head"], fasta, [Region("chrA", 100, 600)], tile=128)["log_p_ref"]
    np.testing.assert_allclose(a, expected, atol=1e-5)
    bw.close()
    lines = (out / "log_p_ref.bedgraph").read_text().splitlines()
    assert lines[0].startswith("track type=bedGraph") and len(lines) == 1 + 500 + 860
    chrom, s, e, v = lines[1].split("\t")
    assert (chrom, int(s), int(e)) == ("chrA", 100, 101) and float(v) == pytest.approx(a[0], abs=1e-5)
    record = json.loads((out / "track.json").read_text())
    assert record["bases"] == 1400 and record["geometry"]["tile"] == 128 and record["bases_per_second"] > 0
    assert record["bigwig_zooms"] == 10  # auto: a short track keeps every zoom level


def test_zoom_levels_auto_rule():
    from genomamba.infer.trackio import MAX_ZOOMS, ZOOMS_AUTO_BASES, zoom_levels

    assert zoom_levels("auto", ZOOMS_AUTO_BASES) == MAX_ZOOMS and zoom_levels("auto", ZOOMS_AUTO_BASES + 1) == 0
    assert zoom_levels(3, 10**9) == 3 and zoom_levels(0, 10) == 0


def test_bigwig_without_zoom_levels_same_values_and_figure(checkpoints, fasta, gff, tmp_path):
    """--bigwig-zooms 0 (what auto picks above 10 Mb, for bounded memory): no zoom levels in the file, the same
    per-base values, and the browser figure (pyBigWig summaries from raw data) still draws."""
    import pyBigWig

    files = {}
    for zooms in ("0", "auto"):
        out = tmp_path / f"z{zooms}"
        common = ("--checkpoint", str(checkpoints["head"]), "--fasta", str(fasta), "--annotation", str(gff))
        run_cli("track", *common, "--genes", "g1", "--figure", "--bigwig-zooms", zooms, "--out", str(out))
        assert (out / "browser.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        files[zooms] = pyBigWig.open(str(out / "entropy.bw"))
    bare, zoomed = files["0"], files["auto"]
    assert bare.header()["nLevels"] == 0 and zoomed.header()["nLevels"] > 0
    np.testing.assert_array_equal(bare.values("chrA", 0, 2500), zoomed.values("chrA", 0, 2500))
    raw = np.array(bare.stats("chrA", 0, 2500, nBins=10, exact=True), dtype=float)
    np.testing.assert_allclose(np.array(bare.stats("chrA", 0, 2500, nBins=10), dtype=float), raw, equal_nan=True)


@pytest.fixture
def gff(tmp_path):
    lines = [
        "##gff-version 3",
        "chrA\tt\tgene\t201\t700\t.\t+\t.\tID=gene-g1",
        "chrA\tt\tmRNA\t201\t700\t.\t+\t.\tID=rna-g1;Parent=gene-g1",
        "chrA\tt\texon\t201\t300\t.\t+\t.\tParent=rna-g1",
        "chrA\tt\texon\t501\t700\t.\t+\t.\tParent=rna-g1",
        "chrA\tt\tmRNA\t1501\t1800\t.\t-\t.\tID=rna-g2;Parent=gene-g2",
        "chrA\tt\texon\t1501\t1800\t.\t-\t.\tParent=rna-g2",
    ]
    path = tmp_path / "genes.gff3"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_genes_and_figure(checkpoints, fasta, gff, tmp_path):
    out = tmp_path / "g"
    run_cli(
        "track",
        "--checkpoint",
        str(checkpoints["head"]),
        "--fasta",
        str(fasta),
        "--annotation",
        str(gff),
        "--genes",
        "g2,g1",
        "--gene-flank",
        "100",
        "--figure",
        "--out",
        str(out),
    )
    record = json.loads((out / "track.json").read_text())
    assert record["regions"] == ["chrA:100-800", "chrA:1400-1900"]  # FASTA order, 0-based half-open
    assert (out / "browser.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    first = run_cli(
        "track",
        "--checkpoint",
        str(checkpoints["head"]),
        "--fasta",
        str(fasta),
        "--annotation",
        str(gff),
        "--genes",
        "1",
        "--gene-flank",
        "0",
        "--out",
        str(tmp_path / "g1"),
    )
    assert json.loads(first.stdout)["bases"] == 500


def test_sequence_head_sliding_windows(seq_head_checkpoint, fasta, genome_seqs, tmp_path):
    import pyBigWig

    from genomamba.model import GenomambaForSequence

    out = tmp_path / "s"
    run_cli(
        "track",
        "--checkpoint",
        str(seq_head_checkpoint),
        "--fasta",
        str(fasta),
        "--regions",
        "chrA:1-230",
        "--window",
        "100",
        "--step",
        "50",
        "--out",
        str(out),
    )
    bw = pyBigWig.open(str(out / "prediction.bw"))
    entries = bw.intervals("chrA")
    bw.close()
    assert [(s, e) for s, e, _ in entries] == [(0, 50), (50, 100), (100, 150), (150, 200), (200, 230)]
    net = GenomambaForSequence.from_pretrained(seq_head_checkpoint)
    window = encode(genome_seqs["chrA"][75:175]).astype(np.int64)  # centred on [100, 150)
    with torch.inference_mode():
        p = torch.sigmoid(net(torch.from_numpy(window)[None]))[0, 0]
    assert entries[2][2] == pytest.approx(float(p), abs=1e-5)
    window0 = encode(genome_seqs["chrA"][0:100]).astype(np.int64)  # shifted inside the sequence at its start
    with torch.inference_mode():
        p0 = torch.sigmoid(net(torch.from_numpy(window0)[None]))[0, 0]
    assert entries[0][2] == pytest.approx(float(p0), abs=1e-5)


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--regions", "chrZ:1-10"), "unknown sequence 'chrZ'"),
        (("--regions", "chrA:3000-3100"), "starts past the end"),
        (("--regions", "chrA", "--formats", "wig"), "formats must be"),
        (("--regions", "chrA", "--formats", "bedgraph", "--figure"), "add bigwig to --formats"),
        (("--genes", "2"), "--genes needs --annotation"),
        (("--regions", "chrA", "--device", "cuda:x"), "device must be"),
        (("--regions", "chrA", "--bigwig-zooms", "11"), "--bigwig-zooms must be auto or 0..10, got 11"),
    ],
)
def test_bad_input_is_one_line_and_leaves_nothing(checkpoints, fasta, tmp_path, extra, message):
    line = cli_error(
        "track", "--checkpoint", str(checkpoints["head"]), "--fasta", str(fasta), "--out", str(tmp_path / "o"), *extra
    )
    assert line.startswith("genomamba track: ") and message in line
    assert [p.name for p in tmp_path.iterdir()] == []


@pytest.mark.gpu
def test_cuda_tracks_match_cpu(checkpoints, fasta, tmp_path):
    cpu = _track(checkpoints["head"], fasta, [Region("chrA", 0, 2500)])
    from genomamba.ops import resolve_backend

    net, device = load_for_inference(checkpoints["head"], "cuda", "auto")
    assert device == "cuda" and resolve_backend(net.config.backend, torch.device("cuda")) == "triton"
    with Genome(fasta) as genome:
        producer = make_producer(net, genome, TrackConfig(device="cuda"), device, checkpoints["head"])
        gpu = np.concatenate([t.values["log_p_ref"] for t in producer.run([Region("chrA", 0, 2500)])])
    np.testing.assert_allclose(gpu, cpu["log_p_ref"], atol=2e-2)  # bf16 autocast on the GPU
