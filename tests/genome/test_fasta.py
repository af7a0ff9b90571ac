"""Genome: plain and BGZF access, index placement (beside / cache), aliases, soft-mask, bad input."""

from __future__ import annotations

import gzip
import os
import time

import numpy as np
import pytest

from genomamba import alphabet as tk
from genomamba.errors import GenomambaError
from genomamba.genome.fasta import Genome, is_writable_dir

from .conftest import FLY4_FASTA, listing, random_genome, shared_file, write_bgzf, write_fasta


def reference_seqs(path) -> dict[str, str]:
    """Independent reading with Biopython."""
    from Bio import SeqIO

    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        return {rec.id: str(rec.seq) for rec in SeqIO.parse(fh, "fasta")}


@pytest.mark.parametrize("kind", ["plain", "bgzf"])
def test_fetch_matches_biopython(kind, request, genome_seqs):
    path = request.getfixturevalue(f"{kind}_fasta")
    genome = Genome(path)
    assert genome.compression == kind
    assert genome.contigs == {name: len(seq) for name, seq in genome_seqs.items()}
    ref = reference_seqs(path)
    rng = np.random.default_rng(0)
    for name, seq in ref.items():
        assert genome.read_bases(name).tobytes().decode() == seq
        for _ in range(30):
            a = int(rng.integers(0, len(seq)))
            b = int(rng.integers(a, min(len(seq), a + 3000) + 1))
            assert genome.fetch(name, a, b) == seq[a:b]
            assert genome.read_bases(name, a, b).tobytes().decode() == seq[a:b]
    genome.close()


def test_bgzf_spanning_many_blocks(tmp_path):
    seqs = random_genome(seed=5, lengths=(300_000, 90_001), names=("chrA", "chrB"))
    path = write_bgzf(tmp_path / "big.fa.gz", seqs, width=70)
    genome = Genome(path)
    assert genome.gzi_path is not None and genome.blocks.c.size >= 6  # really several 64 KiB blocks
    for name, seq in seqs.items():
        assert genome.read_bases(name).tobytes().decode() == seq
        for a, b in [(0, 1), (65_000, 66_000), (len(seq) - 5, len(seq)), (31_000, 89_000)]:
            assert genome.read_bases(name, a, b).tobytes().decode() == seq[a:b]
    chunks = list(genome.iter_chunks("chrA", chunk_bases=70_000))
    assert [s for s, _ in chunks] == [0, 70_000, 140_000, 210_000, 280_000]
    assert b"".join(c.tobytes() for _, c in chunks).decode() == seqs["chrA"]


def test_crlf_and_odd_line_width(tmp_path):
    seqs = random_genome(seed=2, lengths=(1_001, 59), names=("x", "y"))
    genome = Genome(write_fasta(tmp_path / "crlf.fa", seqs, width=17, newline="\r\n"))
    for name, seq in seqs.items():
        assert genome.read_bases(name).tobytes().decode() == seq
        assert genome.fetch(name, 3, len(seq) - 1) == seq[3:-1]


def test_fetch_tokens_softmask_and_strands(plain_fasta, genome_seqs):
    genome = Genome(plain_fasta)
    seq = genome_seqs["chr1"][1000:4000]
    tokens, softmask = genome.fetch_tokens("chr1", 1000, 4000)
    assert tk.decode(tokens, softmask) == seq.replace("R", "N").replace("Y", "N").replace("K", "N").replace("M", "N")
    assert np.array_equal(softmask, np.array([c.islower() for c in seq], dtype=np.uint8))
    assert 0 < softmask.sum() < softmask.size  # the fixture really has soft-masked bases here
    rc_tokens, rc_mask = genome.fetch_tokens("chr1", 1000, 4000, strand="-")
    assert np.array_equal(rc_tokens, tk.reverse_complement(tokens))
    assert np.array_equal(rc_mask, softmask[::-1])
    with pytest.raises(GenomambaError, match="strand"):
        genome.fetch_tokens("chr1", 0, 10, strand="+1")


def test_index_is_built_beside_a_writable_fasta(plain_fasta, isolated_cache):
    assert not os.path.exists(f"{plain_fasta}.fai")
    genome = Genome(plain_fasta)
    assert genome.index_path == plain_fasta.with_name(plain_fasta.name + ".fai") and genome.index_path.is_file()
    assert listing(isolated_cache) == []
    assert [p for p in listing(plain_fasta.parent) if p.endswith(".tmp")] == []


def test_read_only_directory_gets_its_index_in_the_cache(read_only_dir, genome_seqs, isolated_cache):
    folder, freeze = read_only_dir
    fasta = write_bgzf(folder / "ro.fa.gz", genome_seqs)
    freeze()
    before = listing(folder)
    assert not is_writable_dir(folder)  # also true for root: the owner's write bit decides
    genome = Genome(fasta)
    assert listing(folder) == before == ["ro.fa.gz"]  # nothing written beside the FASTA
    assert genome.index_path.is_relative_to(isolated_cache) and genome.gzi_path.is_relative_to(isolated_cache)
    assert genome.index_path.is_file() and genome.gzi_path.is_file()
    assert genome.fetch("chr2", 10, 50) == genome_seqs["chr2"][10:50]
    mtime = genome.index_path.stat().st_mtime_ns
    again = Genome(fasta)  # the cached index is reused, not rebuilt
    assert again.index_path == genome.index_path and again.index_path.stat().st_mtime_ns == mtime


def test_read_only_directory_with_index_uses_it_in_place(read_only_dir, genome_seqs, isolated_cache):
    folder, freeze = read_only_dir
    fasta = write_fasta(folder / "ro.fa", genome_seqs)
    Genome(fasta)  # index beside while still writable
    freeze()
    genome = Genome(fasta)
    assert genome.index_path.parent == folder
    assert listing(isolated_cache) == []


def test_unwritable_cache_is_a_clear_error(read_only_dir, genome_seqs, monkeypatch, tmp_path):
    folder, freeze = read_only_dir
    fasta = write_fasta(folder / "ro.fa", genome_seqs)
    freeze()
    monkeypatch.setenv("GENOMAMBA_CACHE_DIR", str(folder / "cache"))
    with pytest.raises(GenomambaError, match="GENOMAMBA_CACHE_DIR") as exc:
        Genome(fasta)
    assert str(fasta) in str(exc.value)


def test_stale_index_is_rebuilt(tmp_path, genome_seqs):
    fasta = write_fasta(tmp_path / "g.fa", genome_seqs)
    assert Genome(fasta).contigs["chr2"] == 7_000
    time.sleep(0.01)
    write_fasta(fasta, {"chr2": "ACGT" * 10})
    os.utime(fasta, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))  # FASTA newer than its index
    assert Genome(fasta).contigs == {"chr2": 40}


def test_shared_reference_is_used_read_only():
    path = shared_file(*FLY4_FASTA)
    before = listing(path.parent)
    genome = Genome(path)
    assert genome.contigs == {"NC_004353.4": 1_348_131}
    assert genome.index_path == path.with_name(path.name + ".fai")  # its shipped index, in place
    ref = reference_seqs(path)["NC_004353.4"]
    for a, b in [(0, 100), (1_048_500, 1_048_700), (1_348_000, 1_348_131)]:
        assert genome.fetch("NC_004353.4", a, b) == ref[a:b]
    assert listing(path.parent) == before


# --------------------------------------------------------------------------------------------- aliases
@pytest.mark.parametrize(
    "names, query, expected",
    [
        (("chr1", "chr2", "chrM"), "1", "chr1"),
        (("chr1", "chr2", "chrM"), "MT", "chrM"),
        (("chr1", "chr2", "chrM"), "chrMT", "chrM"),
        (("1", "2", "MT"), "chr1", "1"),
        (("1", "2", "MT"), "chrM", "MT"),
        (("1", "2", "MT"), "M", "MT"),
        (("Chr1", "Chr2", "ChrM"), "chr1", "Chr1"),
        (("1", "chr1"), "1", "1"),  # an exact name always wins
    ],
)
def test_alias_resolution(tmp_path, names, query, expected):
    genome = Genome(write_fasta(tmp_path / "a.fa", {n: "ACGT" * 5 for n in names}))
    assert genome.resolve(query) == expected
    assert genome.fetch(query, 0, 4) == "ACGT"


def test_alias_never_guesses(tmp_path):
    genome = Genome(write_fasta(tmp_path / "a.fa", {"1": "ACGT", "chr1": "ACGT", "NC_000001.11": "ACGT"}))
    with pytest.raises(GenomambaError, match="ambiguous"):
        genome.resolve("Chr1")
    with pytest.raises(GenomambaError, match="unknown sequence 'chr3'"):
        genome.resolve("chr3")
    with pytest.raises(GenomambaError, match="unknown sequence 'NC_000001'"):
        genome.resolve("NC_000001")


def test_out_of_bounds_interval(plain_fasta):
    genome = Genome(plain_fasta)
    with pytest.raises(GenomambaError, match="outside the sequence") as exc:
        genome.fetch("chrM", 1_000, 1_235)
    assert exc.value.record == "chrM"
    assert genome.fetch("chrM", 1_234, 1_234) == ""


# ------------------------------------------------------------------------------------------- bad input
def _error(path) -> GenomambaError:
    with pytest.raises(GenomambaError) as exc:
        Genome(path)
    assert str(path) in exc.value.render() and "\n" not in exc.value.render()
    return exc.value


def test_missing_file_and_directory(tmp_path):
    assert _error(tmp_path / "missing.fa").problem == "file not found"
    assert "directory" in _error(tmp_path).problem


def test_not_a_fasta(tmp_path):
    path = tmp_path / "annotation.gff"
    path.write_text("##gff-version 3\nchr1\t.\tgene\t1\t10\t.\t+\t.\tID=g\n")
    assert "not a FASTA file" in _error(path).problem
    binary = tmp_path / "x.bz2"
    binary.write_bytes(b"BZh91AY&SY" + bytes(20))
    assert "bzip2" in _error(binary).problem


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b">only_a_header\n", b">a\n>b\n"])
def test_empty_fasta(tmp_path, content):
    path = tmp_path / "empty.fa"
    path.write_bytes(content)
    assert "empty FASTA" in _error(path).problem


def test_duplicate_names_leave_no_index(tmp_path):
    path = write_fasta(tmp_path / "dup.fa", {"chr1": "ACGT"})
    path.write_text(path.read_text() + ">chr1 again\nGGGG\n")
    err = _error(path)
    assert err.problem == "duplicate sequence name" and err.record == "chr1"
    assert listing(tmp_path) == ["dup.fa"]  # no (partial) index left behind


def test_inconsistent_line_lengths(tmp_path):
    path = tmp_path / "ragged.fa"
    path.write_text(">a\nACGTACGT\nACG\nACGTACGT\n")
    assert "cannot index FASTA" in _error(path).problem
    assert listing(tmp_path) == ["ragged.fa"]


def test_non_nucleotide_names_record_and_position(tmp_path):
    path = write_fasta(tmp_path / "protein.fa", {"ok": "ACGT" * 10, "prot": "ACGT" * 20 + "MEEPLQ"})
    genome = Genome(path)
    with pytest.raises(GenomambaError, match=r"invalid nucleotide 'E' at position 81$") as exc:
        genome.fetch_tokens("prot", 0, 86)
    assert exc.value.record == "prot" and exc.value.path == str(path)


def test_truncated_fasta_is_detected(tmp_path, genome_seqs):
    fasta = write_fasta(tmp_path / "g.fa", genome_seqs)
    genome = Genome(fasta)
    stamp = genome.index_path.stat().st_mtime_ns
    with open(fasta, "r+b") as fh:  # cut the last sequence short, keeping the index "fresh"
        fh.truncate(fasta.stat().st_size - 500)
    os.utime(fasta, ns=(stamp - 10**9, stamp - 10**9))
    with pytest.raises(GenomambaError, match="truncated") as exc:
        Genome(fasta).read_bases("chrM")
    assert exc.value.record == "chrM"


def test_corrupt_bgzf_block_is_detected(tmp_path):
    seqs = random_genome(seed=8, lengths=(200_000,), names=("chrA",))
    fasta = write_bgzf(tmp_path / "g.fa.gz", seqs)
    genome = Genome(fasta)
    stamp = genome.index_path.stat().st_mtime_ns
    data = bytearray(fasta.read_bytes())
    second_block = int(genome.blocks.c[1])
    data[second_block + 40] ^= 0xFF  # inside the deflate payload of block 1
    fasta.write_bytes(bytes(data))
    os.utime(fasta, ns=(stamp - 10**9, stamp - 10**9))
    genome = Genome(fasta)
    assert genome.read_bases("chrA", 0, 1_000).tobytes().decode() == seqs["chrA"][:1_000]  # block 0 is fine
    problem = r"corrupt: the BGZF block at byte [0-9,]+ (does not inflate|fails its checksum)"
    with pytest.raises(GenomambaError, match=problem):
        genome.read_bases("chrA", 100_000, 110_000)


def test_reads_work_in_forked_and_spawned_workers(bgzf_fasta, genome_seqs):
    import multiprocessing
    import pickle

    global _INHERITED
    genome = Genome(bgzf_fasta)
    assert genome.fetch("chr1", 0, 10) == genome_seqs["chr1"][:10]  # handles opened in the parent
    _INHERITED = genome
    with multiprocessing.get_context("fork").Pool(1) as pool:  # forked workers inherit the open Genome
        assert pool.apply(_fetch_inherited, ("chr2", 100, 900)) == (genome_seqs["chr2"][100:900],) * 2
    copy = pickle.loads(pickle.dumps(genome))  # what a spawned worker receives
    assert _fetch_both(copy, "chrM", 5, 50) == (genome_seqs["chrM"][5:50],) * 2


_INHERITED = None


def _fetch_inherited(chrom, start, end):
    return _fetch_both(_INHERITED, chrom, start, end)


def _fetch_both(genome, chrom, start, end):
    return genome.fetch(chrom, start, end), genome.read_bases(chrom, start, end).tobytes().decode()
