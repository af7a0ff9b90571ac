"""Windows: tiling, tail and N policies, splits, the output directory, its loader, and atomic failure."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import polars as pl
import pytest

from genomamba import alphabet as tk
from genomamba.alphabet import encode_with_softmask
from genomamba.atomic import OUTPUT_STAMP
from genomamba.errors import GenomambaError
from genomamba.genome.fasta import Genome
from genomamba.genome.windows import Segment, WindowsConfig, WindowsDir, build_windows, plan_segments, tile

from .conftest import listing, random_genome, write_bgzf, write_fasta


# ----------------------------------------------------------------------------------------------- tiling
@pytest.mark.parametrize(
    "length, size, stride, starts, ends, tail",
    [
        (10, 4, 4, [0, 4, 8], [4, 8, 10], True),
        (12, 4, 4, [0, 4, 8], [4, 8, 12], False),
        (10, 4, 2, [0, 2, 4, 6, 8], [4, 6, 8, 10, 10], True),
        (10, 4, 5, [0, 5], [4, 9], False),
        (8, 4, 5, [0, 5], [4, 8], True),
        (3, 4, 4, [0], [3], True),
    ],
)
def test_tile(length, size, stride, starts, ends, tail):
    s, e, has_tail = tile(Segment("c", 100, 100 + length, "train"), size, stride)
    assert (s - 100).tolist() == starts and (e - 100).tolist() == ends and has_tail == tail


def test_config_validation():
    with pytest.raises(ValueError, match="window_size must be a positive number of bases, got 0"):
        WindowsConfig(window_size=0)
    with pytest.raises(ValueError, match="max_n_frac"):
        WindowsConfig(max_n_frac=1.5)
    with pytest.raises(ValueError, match="sum to < 1"):
        WindowsConfig(val_frac=0.6, test_frac=0.4)
    with pytest.raises(ValueError, match="need split_by=chromosome"):
        WindowsConfig(val_chroms=["chr1"])
    with pytest.raises(ValueError, match="val_frac must be a fraction in"):
        WindowsConfig(val_frac=float("nan"))
    with pytest.raises(ValueError, match="seed must be >= 0"):
        WindowsConfig(seed=-1)
    assert WindowsConfig(min_tail=0).min_tail_bp == 0  # 0 keeps every tail
    cfg = WindowsConfig(window_size=1000)
    assert (cfg.stride_bp, cfg.min_tail_bp, cfg.block_bp) == (1000, 62, 1000)


# ----------------------------------------------------------------------------------------------- splits
def _genome(tmp_path, lengths, names=None):
    names = names or [f"chr{i + 1}" for i in range(len(lengths))]
    seqs = random_genome(seed=1, lengths=lengths, names=names)
    return Genome(write_fasta(tmp_path / "g.fa", seqs)), seqs


def test_one_chromosome_gets_held_out_blocks(tmp_path):
    genome, _ = _genome(tmp_path, [100_000], ["only"])
    cfg = WindowsConfig(window_size=5_000, val_frac=0.1, test_frac=0.1)
    segments, warnings = plan_segments(genome, cfg)
    bases = {s: sum(g.end - g.start for g in segments if g.split == s) for s in ("train", "val", "test")}
    assert bases == {"train": 80_000, "val": 10_000, "test": 10_000} and warnings == []
    assert segments[0].start == 0 and segments[-1].end == 100_000
    assert all(a.end == b.start for a, b in zip(segments, segments[1:]))  # a partition of the chromosome
    assert plan_segments(genome, cfg) == (segments, warnings)  # seeded: reproducible
    other, _ = plan_segments(genome, WindowsConfig(window_size=5_000, seed=1))
    assert other != segments


def test_too_few_blocks_share_the_held_out_one(tmp_path):
    # one chromosome = one full window + a tail: train keeps the window, val and test halve the tail
    genome, _ = _genome(tmp_path, [13_000], ["only"])
    segments, warnings = plan_segments(genome, WindowsConfig(window_size=10_000, min_tail=1_000))
    assert [(s.start, s.end, s.split) for s in segments] == [
        (0, 10_000, "train"), (10_000, 11_500, "val"), (11_500, 13_000, "test")
    ]  # fmt: skip
    assert warnings == []
    # ... unless the halves would be too short to hold a window: then test stays empty, with a warning
    segments, warnings = plan_segments(genome, WindowsConfig(window_size=10_000, min_tail=2_000))
    assert [s.split for s in segments] == ["train", "val"] and warnings == [
        "test split is empty: only 2 unit(s) long enough to hold a window"
    ]


def test_windows_never_straddle_a_split_boundary(tmp_path):
    genome, _ = _genome(tmp_path, [50_000, 33_333])
    out = tmp_path / "w"
    cfg = WindowsConfig(window_size=3_000, stride=1_000, block_size=6_000, min_tail=500, val_frac=0.2)
    qc = build_windows(genome.path, out, cfg)
    segments = [Segment(*s) for s in qc["segments"]]
    for row in WindowsDir(out).windows.iter_rows(named=True):
        inside = [s for s in segments if s.chrom == row["chrom"] and s.start <= row["start"] < row["end"] <= s.end]
        assert len(inside) == 1 and inside[0].split == row["split"], row


def test_chromosome_split_explicit_with_aliases(tmp_path):
    genome, _ = _genome(tmp_path, [20_000, 15_000, 12_000, 9_000], ["1", "2", "3", "MT"])
    cfg = WindowsConfig(window_size=4_000, split_by="chromosome", val_chroms=["chr2"], test_chroms=["chrM"])
    segments, _ = plan_segments(genome, cfg)
    assert {s.chrom: s.split for s in segments} == {"1": "train", "2": "val", "3": "train", "MT": "test"}
    with pytest.raises(GenomambaError, match="both val_chroms and test_chroms"):
        plan_segments(genome, WindowsConfig(split_by="chromosome", val_chroms=["1"], test_chroms=["chr1"]))
    with pytest.raises(GenomambaError, match="unknown sequence 'chr9'"):
        plan_segments(genome, WindowsConfig(split_by="chromosome", val_chroms=["chr9"]))


def test_chromosome_split_by_fraction(tmp_path):
    genome, _ = _genome(tmp_path, [40_000, 10_000, 10_000, 30_000, 10_000])
    segments, warnings = plan_segments(genome, WindowsConfig(window_size=2_000, split_by="chromosome"))
    split_of = {s.chrom: s.split for s in segments}
    assert sorted(split_of.values()).count("train") == 3 and warnings == []
    assert [genome.contigs[c] for c, s in split_of.items() if s != "train"] == [10_000, 10_000]
    (tmp_path / "one").mkdir()
    single, _ = _genome(tmp_path / "one", [10_000])
    with pytest.raises(GenomambaError, match="use split_by=block"):
        plan_segments(single, WindowsConfig(window_size=2_000, split_by="chromosome"))


# ----------------------------------------------------------------------------------------------- output
def _expected_stats(seq: str, start: int, end: int) -> tuple[float, float, float]:
    window = seq[start:end]
    upper = window.upper()
    n = sum(c not in "ACGT" for c in upper)  # IUPAC codes are N tokens
    gc = upper.count("G") + upper.count("C")
    return (
        n / len(window),
        gc / (len(window) - n) if len(window) > n else 0.0,
        sum(c.islower() for c in window) / len(window),
    )


CONFIGS = {
    "overlapping": dict(window_size=4_096, stride=3_000, min_tail=1_000, chunk_bases=5_000),
    "gapped, all tails": dict(window_size=1_500, stride=2_000, min_tail=0, chunk_bases=777, block_size=5_000),
    "chromosome split": dict(window_size=2_500, split_by="chromosome", val_chroms=["chr2"], chunk_bases=10_000),
}


@pytest.mark.parametrize("kind", ["plain", "bgzf"])
@pytest.mark.parametrize("params", list(CONFIGS.values()), ids=list(CONFIGS))
def test_output_directory_contents(tmp_path, kind, params):
    seqs = random_genome(seed=4, lengths=(25_000, 7_000, 1_234))
    writer = write_fasta if kind == "plain" else write_bgzf
    fasta = writer(tmp_path / ("g.fa" if kind == "plain" else "g.fa.gz"), seqs)
    out = tmp_path / "out"
    cfg = WindowsConfig(**params)
    qc = build_windows(fasta, out, cfg, genome_name="tiny")
    assert listing(out) == sorted([*WindowsDir.FILES, OUTPUT_STAMP])  # + the stamp marking it as our output
    assert [p for p in listing(tmp_path) if p.startswith(".")] == []  # no temporary directory left
    wd = WindowsDir(out, verify=True)

    # tokens/softmask: every base of every sequence, in FASTA order
    genome_text = "".join(seqs.values())
    assert tk.decode(wd.tokens, wd.softmask) == "".join(
        "N" if c in "RYKM" else "n" if c in "rykm" else c for c in genome_text
    )
    assert wd.contigs["name"].to_list() == list(seqs)
    assert wd.contigs["offset"].to_list() == [0, 25_000, 32_000]
    assert wd.contigs["md5"].to_list() == [hashlib.md5(s.upper().encode()).hexdigest() for s in seqs.values()]

    # manifest: coordinates, offsets and per-window statistics recomputed independently
    windows = wd.windows
    assert windows.columns == [
        "chrom",
        "start",
        "end",
        "offset",
        "split",
        "n_frac",
        "gc_frac",
        "softmask_frac",
    ]
    for row in windows.iter_rows(named=True):
        seq = seqs[row["chrom"]]
        n_frac, gc_frac, sm_frac = _expected_stats(seq, row["start"], row["end"])
        assert row["n_frac"] == pytest.approx(n_frac) and row["gc_frac"] == pytest.approx(gc_frac)
        assert row["softmask_frac"] == pytest.approx(sm_frac)
        assert row["end"] - row["start"] == cfg.window_size or row["end"] - row["start"] >= cfg.min_tail_bp
        tokens, _ = wd.window(windows["offset"].to_list().index(row["offset"]))
        assert tk.decode(tokens) == tk.decode(tk.encode(seq[row["start"] : row["end"]]))

    # QC: counts add up per chromosome and overall
    per = qc["per_chromosome"]
    assert sum(v["kept"] for v in per.values()) == windows.height == qc["totals"]["kept"]
    for name, stats in per.items():
        assert stats["candidates"] == stats["kept"] + sum(stats["dropped"].values())
        assert stats["kept"] == windows.filter(pl.col("chrom") == name).height
    assert qc["genome"]["name"] == "tiny" and qc["parameters"]["stride"] == cfg.stride_bp
    assert json.loads((out / "qc.json").read_text()) == qc
    assert tk.NucleotideTokenizer.load(out / "tokenizer.json") == tk.NucleotideTokenizer()


def test_tail_policy(tmp_path):
    seqs = random_genome(seed=6, lengths=(10_500, 12_900), names=("a", "b"))
    fasta = write_fasta(tmp_path / "g.fa", seqs)
    cfg = WindowsConfig(window_size=4_000, min_tail=1_000, val_frac=0, test_frac=0, max_n_frac=1.0)
    qc = build_windows(fasta, tmp_path / "w", cfg)
    rows = WindowsDir(tmp_path / "w").windows
    # a: 0-4000, 4000-8000, tail 8000-10500 (2500 >= 1000, kept); b: ..., tail 12000-12900 (900, dropped)
    assert rows.filter(pl.col("chrom") == "a")["end"].to_list() == [4_000, 8_000, 10_500]
    assert rows.filter(pl.col("chrom") == "b")["end"].to_list() == [4_000, 8_000, 12_000]
    assert qc["per_chromosome"]["b"]["dropped"] == {"short_tail": 1, "max_n_frac": 0}
    assert qc["per_chromosome"]["a"]["dropped"] == {"short_tail": 0, "max_n_frac": 0}


def test_n_policy(tmp_path):
    seqs = {"gappy": "ACGT" * 1_000 + "N" * 3_000 + "acgt" * 250 + "ACGT" * 1_000}  # 12,000 bp
    fasta = write_fasta(tmp_path / "g.fa", seqs)
    cfg = WindowsConfig(window_size=2_000, max_n_frac=0.5, val_frac=0, test_frac=0)
    qc = build_windows(fasta, tmp_path / "w", cfg)
    rows = WindowsDir(tmp_path / "w").windows
    # windows 4000-6000 (all N) and 6000-8000 (1000 N = 0.5, kept: the limit is inclusive)
    assert rows["start"].to_list() == [0, 2_000, 6_000, 8_000, 10_000]
    assert rows.filter(pl.col("start") == 6_000)["n_frac"].item() == 0.5
    assert rows.filter(pl.col("start") == 6_000)["softmask_frac"].item() == 0.5
    assert qc["per_chromosome"]["gappy"]["dropped"]["max_n_frac"] == 1
    assert qc["totals"]["dropped"] == {"short_tail": 0, "max_n_frac": 1}


def test_rerun_replaces_output_and_refuses_foreign_directories(tmp_path, plain_fasta):
    out = tmp_path / "w"
    build_windows(plain_fasta, out, WindowsConfig(window_size=5_000))
    build_windows(plain_fasta, out, WindowsConfig(window_size=2_000))
    assert WindowsDir(out).qc["parameters"]["window_size"] == 2_000
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    with pytest.raises(GenomambaError, match="refusing to replace"):
        build_windows(plain_fasta, precious, WindowsConfig(window_size=5_000))
    assert listing(precious) == ["thesis.tex"]


def test_failure_keeps_previous_output_and_leaves_no_partial_files(tmp_path):
    seqs = {"good": "ACGT" * 2_000, "bad": "ACGT" * 2_000 + "EEEE"}
    fasta = write_fasta(tmp_path / "g.fa", seqs)
    out = tmp_path / "w"
    build_windows(write_fasta(tmp_path / "ok.fa", {"good": "ACGT" * 2_000}), out, WindowsConfig(window_size=1_000))
    before = {p: (out / p).read_bytes() for p in listing(out)}
    with pytest.raises(GenomambaError, match=r"g.fa:bad: invalid nucleotide 'E' at position 8,000"):
        build_windows(fasta, out, WindowsConfig(window_size=1_000))
    assert {p: (out / p).read_bytes() for p in listing(out)} == before
    assert [p for p in listing(tmp_path) if p.startswith(".")] == []


def test_window_larger_than_every_chromosome(tmp_path, plain_fasta):
    with pytest.raises(GenomambaError, match=r"window size 30,000 bp is larger than every sequence \(longest: chr1"):
        build_windows(plain_fasta, tmp_path / "w", WindowsConfig(window_size=30_000))
    assert not (tmp_path / "w").exists()


def test_no_window_survives(tmp_path):
    fasta = write_fasta(tmp_path / "g.fa", {"n": "N" * 5_000})
    with pytest.raises(GenomambaError, match="no windows kept"):
        build_windows(fasta, tmp_path / "w", WindowsConfig(window_size=1_000))
    assert not (tmp_path / "w").exists()


# ----------------------------------------------------------------------------------------------- loader
@pytest.fixture
def built(tmp_path, plain_fasta):
    out = tmp_path / "w"
    build_windows(plain_fasta, out, WindowsConfig(window_size=4_000))
    return out


def test_loader_splits_and_windows(built):
    wd = WindowsDir(built)
    assert sum(wd.split(s).height for s in ("train", "val", "test")) == len(wd) > 0
    assert wd.tokens.dtype == np.uint8 and isinstance(wd.tokens, np.memmap) and wd.tokens.size == 33_234
    with pytest.raises(GenomambaError, match="unknown split"):
        wd.split("dev")


def test_loader_missing_part(built):
    (built / "softmask.u8").unlink()
    with pytest.raises(GenomambaError, match="missing softmask.u8"):
        WindowsDir(built)


def test_loader_tokens_disagree_with_manifest(built):
    with open(built / "tokens.u8", "r+b") as fh:
        fh.truncate(1_000)
    with pytest.raises(GenomambaError, match="has 1,000 bytes but contigs.parquet describes 33,234 bases"):
        WindowsDir(built)


def test_loader_bad_window_offset(built):
    windows = pl.read_parquet(built / "windows.parquet")
    windows.with_columns(pl.col("offset") + 1).write_parquet(built / "windows.parquet")
    with pytest.raises(GenomambaError, match="disagrees with contigs.parquet"):
        WindowsDir(built)


def test_loader_checksum(built):
    data = bytearray((built / "tokens.u8").read_bytes())
    data[10] = (data[10] + 1) % 4
    (built / "tokens.u8").write_bytes(bytes(data))
    WindowsDir(built)  # structure still fine
    with pytest.raises(GenomambaError, match="md5 does not match"):
        WindowsDir(built, verify=True)


def test_loader_not_parquet(built):
    (built / "contigs.parquet").write_text("name,offset\n")
    with pytest.raises(GenomambaError, match="contigs.parquet: cannot read Parquet"):
        WindowsDir(built)


def test_interrupted_run_leaves_nothing(tmp_path, plain_fasta, monkeypatch):
    calls = []

    def interrupt(self, name, bases, start=0):
        calls.append(name)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C halfway through the genome
        return encode_with_softmask(bases)

    monkeypatch.setattr(Genome, "encode_bases", interrupt)
    with pytest.raises(KeyboardInterrupt):
        build_windows(plain_fasta, tmp_path / "w", WindowsConfig(window_size=4_000))
    assert calls == ["chr1", "chr2"]
    assert not (tmp_path / "w").exists() and [p for p in listing(tmp_path) if p.startswith(".")] == []


def test_loader_rejects_values_that_are_not_tokens(built):
    data = bytearray((built / "tokens.u8").read_bytes())
    data[5] = 200
    (built / "tokens.u8").write_bytes(bytes(data))
    with pytest.raises(GenomambaError, match="not token ids"):
        WindowsDir(built)
