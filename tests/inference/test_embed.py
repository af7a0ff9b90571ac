"""``genomamba embed``: every input kind, both outputs, streaming in chunks, and one-line errors before any work."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch

from genomamba.alphabet import encode
from genomamba.infer.features import pooled_features
from genomamba.model import GenomambaModel
from genomamba.model.batching import pad_batch
from tests.inference.conftest import cli_error, run_cli


def _expected(checkpoint, seqs: list[str], strands="average", pooling="mean", layer=-1) -> np.ndarray:
    model = GenomambaModel.from_pretrained(checkpoint)
    with torch.inference_mode():
        return np.stack(
            [pooled_features(model, pad_batch([encode(s)]), layer, strands, pooling)[0].numpy() for s in seqs]
        )


def test_sequence_table_to_parquet_in_input_order(checkpoints, table, tmp_path):
    out = tmp_path / "emb.parquet"
    args = ("embed", "--sequences", str(table), "--id-column", "name", "--checkpoint", str(checkpoints["layer"]))
    r = run_cli(*args, "--out", str(out), "--batch-size", "3", "--chunk-rows", "4", "--device", "cpu")
    summary = json.loads(r.stdout)
    src = pl.read_csv(table)
    got = pl.read_parquet(out)
    assert got["id"].to_list() == src["name"].to_list()
    assert got["length"].to_list() == [len(s) for s in src["sequence"]]
    vectors = np.stack(got["embedding"].to_numpy())
    assert vectors.shape == (src.height, summary["width"]) == (src.height, 16)
    np.testing.assert_allclose(vectors, _expected(checkpoints["layer"], src["sequence"].to_list()), atol=1e-5)
    import pyarrow.parquet as pq

    meta = json.loads(pq.read_schema(out).metadata[b"genomamba"])
    assert meta["config"]["strands"] == "average" and meta["layer_index"] == 2 and meta["device"] == "cpu"


def test_intervals_minus_strand_and_layer(checkpoints, fasta, genome_seqs, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("chrA\t100\t180\tr1\t0\t+\nchrA\t100\t180\tr2\t0\t-\nchrB\t850\t900\tr3\t0\t+\n")
    out = tmp_path / "emb.parquet"
    args = ("embed", "--intervals", str(bed), "--fasta", str(fasta), "--checkpoint", str(checkpoints["head"]))
    run_cli(*args, "--out", str(out), "--flank", "10", "--layer", "1", "--strands", "forward")
    got = pl.read_parquet(out)
    assert got.select("id", "chrom", "start", "end", "strand").rows() == [
        ("r1", "chrA", 100, 180, "+"),
        ("r2", "chrA", 100, 180, "-"),
        ("r3", "chrB", 850, 900, "+"),
    ]
    assert got["length"].to_list() == [100, 100, 70]  # chrB ends 10 bases after r3's flank starts: padded with N
    a = genome_seqs["chrA"][90:190]
    np.testing.assert_allclose(
        np.stack(got["embedding"].to_numpy()[:1]),
        _expected(checkpoints["head"], [a], strands="forward", layer=1),
        atol=1e-5,
    )


def test_windows_per_token_npy(checkpoints, fasta, tmp_path):
    from genomamba.genome.windows import WindowsConfig, WindowsDir, build_windows

    wdir = tmp_path / "w"
    build_windows(fasta, wdir, WindowsConfig(window_size=400, min_tail=10, val_frac=0.0, test_frac=0.0))
    out = tmp_path / "tok.npy"
    run_cli(
        "embed",
        "--windows",
        str(wdir),
        "--checkpoint",
        str(checkpoints["ps"]),
        "--out",
        str(out),
        "--pooling",
        "none",
        "--strands",
        "concat",
        "--chunk-rows",
        "3",
    )
    feats = np.load(out, mmap_mode="r")
    index = pl.read_parquet(f"{out}.index.parquet")
    windows = WindowsDir(wdir)
    assert index.height == len(windows) and feats.shape == (int(index["length"].sum()), 64)
    row = index.row(4, named=True)
    tokens = windows.window(4)[0]
    model = GenomambaModel.from_pretrained(checkpoints["ps"])
    with torch.inference_mode():
        ref = pooled_features(model, pad_batch([np.asarray(tokens)]), -1, "concat", "none")[0].numpy()
    np.testing.assert_allclose(feats[row["offset"] : row["offset"] + row["length"]], ref, atol=1e-5)


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--out", "{tmp}/e.csv"), "must end in .parquet"),
        (("--out", "{tmp}/e.parquet", "--pooling", "none"), "write them to .npy"),
        (("--out", "{tmp}/e.npy"), "write it to .parquet"),
        (("--out", "{tmp}/e.parquet", "--sequence-column", "seq"), "missing column 'seq'"),
        (("--out", "{tmp}/e.parquet", "--layer", "7"), "layer 7"),
        (("--out", "{tmp}/e.parquet", "--device", "gpu"), "device must be"),
    ],
)
def test_bad_input_is_one_line_and_leaves_nothing(checkpoints, table, tmp_path, extra, message):
    extra = tuple(a.format(tmp=tmp_path) for a in extra)
    line = cli_error("embed", "--sequences", str(table), "--checkpoint", str(checkpoints["head"]), *extra)
    assert line.startswith("genomamba embed: ") and message in line
    assert not any(p.name.startswith("e.") or p.name.startswith(".e.") for p in tmp_path.iterdir())


def test_intervals_need_a_fasta(checkpoints, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("chrA\t1\t5\n")
    line = cli_error(
        "embed", "--intervals", str(bed), "--checkpoint", str(checkpoints["head"]), "--out", str(tmp_path / "e.parquet")
    )
    assert "needs --fasta" in line
