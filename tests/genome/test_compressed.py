"""Compressed FASTA that is truncated, corrupt or not BGZF: one-line errors naming the file, never a struct or zlib
traceback; plain gzip FASTA reads through a BGZF copy in the cache."""

from __future__ import annotations

import gzip
import os

import pytest

from genomamba.errors import GenomambaError
from genomamba.genome.bgzf import EOF_BLOCK, HEADER
from genomamba.genome.fasta import Genome

from .conftest import listing, random_genome, write_bgzf, write_fasta


@pytest.fixture
def big_bgzf(tmp_path):
    """A BGZF FASTA of several blocks, and its block starts (compressed offsets)."""
    seqs = random_genome(seed=4, lengths=(200_000, 30_000), names=("chrA", "chrB"))
    path = write_bgzf(tmp_path / "g.fa.gz", seqs)
    starts = Genome(path).blocks.c.tolist()
    for index in (f"{path}.fai", f"{path}.gzi"):
        os.unlink(index)  # each test indexes its own damaged copy from scratch
    assert len(starts) >= 4
    return path, starts, seqs


def _error(path) -> GenomambaError:
    with pytest.raises(GenomambaError) as exc:
        Genome(path).read_bases("chrB")  # opening indexes the file; reading inflates the last blocks
    text = exc.value.render()
    assert text.startswith(f"{path}: ") and "\n" not in text, text
    return exc.value


def _cut(path, size):
    with open(path, "r+b") as fh:
        fh.truncate(size)


def test_bgzf_cut_in_the_middle_of_a_block(big_bgzf):
    path, starts, _ = big_bgzf
    _cut(path, starts[2] + 100)
    assert _error(path).problem == f"truncated in the middle of the BGZF block at byte {starts[2]:,}"
    assert listing(path.parent) == [path.name]  # no index of a broken file


def test_bgzf_cut_after_a_block(big_bgzf):
    path, starts, _ = big_bgzf
    _cut(path, starts[3])  # a whole number of blocks, but no end-of-file marker
    problem = _error(path).problem
    assert problem.startswith("truncated") and "end-of-file" in problem


def test_bgzf_cut_inside_a_block_header(big_bgzf):
    path, starts, _ = big_bgzf
    _cut(path, starts[1] + HEADER - 5)
    assert _error(path).problem == f"truncated: the BGZF block at byte {starts[1]:,} is cut short"


def test_bgzf_truncated_after_indexing(big_bgzf):
    path, starts, seqs = big_bgzf
    genome = Genome(path)
    stamp = genome.index_path.stat().st_mtime_ns
    _cut(path, starts[-1] + 50)  # the index stays "fresh": only reading can notice
    os.utime(path, ns=(stamp - 10**9, stamp - 10**9))
    genome = Genome(path)
    assert genome.fetch("chrA", 0, 50) == seqs["chrA"][:50]
    with pytest.raises(GenomambaError, match="truncated in the middle of the BGZF block") as exc:
        genome.read_bases("chrB")
    assert exc.value.path == str(path)


@pytest.mark.parametrize("where, problem", [
    (3, "corrupt: no BGZF block header at byte"),  # gzip magic intact, flags byte flipped
    (0, "corrupt: no BGZF block header at byte"),
    (HEADER + 40, "corrupt: the BGZF block at byte"),  # inside the deflate payload
])  # fmt: skip
def test_bgzf_flipped_bytes(big_bgzf, where, problem):
    path, starts, _ = big_bgzf
    data = bytearray(path.read_bytes())
    data[starts[2] + where] ^= 0xFF
    path.write_bytes(bytes(data))
    err = _error(path)
    assert err.problem.startswith(problem) and f"{starts[2]:,}" in err.problem, err.problem


def test_gzip_member_that_is_not_bgzf(big_bgzf):
    path, starts, _ = big_bgzf
    data = path.read_bytes()
    tail = gzip.compress(b">chrC\nACGT\n")  # a plain gzip member appended (cat of a .gz onto a .bgz)
    path.write_bytes(data[: -len(EOF_BLOCK)] + tail + EOF_BLOCK)
    problem = _error(path).problem
    assert problem.startswith("not BGZF") and f"{len(data) - len(EOF_BLOCK):,}" in problem and "bgzip" in problem


# -------------------------------------------------------------------------------------------------- plain gzip
def test_plain_gzip_fasta_reads_through_a_cached_bgzf_copy(tmp_path, genome_seqs, isolated_cache):
    path = tmp_path / "g.fa.gz"
    path.write_bytes(gzip.compress(write_fasta(tmp_path / "g.fa", genome_seqs).read_bytes()))
    os.unlink(tmp_path / "g.fa")
    genome = Genome(path)
    assert genome.path == path and genome.compression == "bgzf" and genome.source_format == "gzip"
    assert genome.fasta_path.is_relative_to(isolated_cache)
    assert listing(tmp_path) == ["g.fa.gz"]  # the copy and its index live in the cache only
    for name, seq in genome_seqs.items():
        assert genome.fetch(name, 0, len(seq)) == seq
    again = Genome(path)  # the copy is reused while the input is unchanged
    assert again.fasta_path == genome.fasta_path


def test_plain_gzip_truncated(tmp_path, genome_seqs):
    path = tmp_path / "g.fa.gz"
    data = gzip.compress(write_fasta(tmp_path / "g.fa", genome_seqs).read_bytes())
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(GenomambaError) as exc:
        Genome(path)
    assert exc.value.path == str(path) and exc.value.problem.startswith("truncated gzip")
    assert "\n" not in exc.value.render()


def test_plain_gzip_corrupt(tmp_path, genome_seqs):
    path = tmp_path / "g.fa.gz"
    data = bytearray(gzip.compress(write_fasta(tmp_path / "g.fa", genome_seqs).read_bytes()))
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(GenomambaError) as exc:
        Genome(path)
    assert exc.value.path == str(path) and exc.value.problem.startswith("corrupt gzip")


def test_cli_names_the_file_and_the_problem(big_bgzf, tmp_path, capsys):
    from genomamba.cli import main

    path, starts, _ = big_bgzf
    _cut(path, starts[2] + 100)
    assert main(["windows", "--fasta", str(path), "--out", str(tmp_path / "w"), "--window-size", "1000"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"genomamba windows: {path}: truncated in the middle of the BGZF block at byte {starts[2]:,}"
