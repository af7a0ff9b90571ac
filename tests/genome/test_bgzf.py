"""BGZF random access at block edges: the first and last base of every block, and reads across block boundaries.

A base whose byte is the first of a BGZF block sits at within-block offset 0 of that block, which is the same
uncompressed position as "one past the end" of the previous block; a reader must resolve it to the later block.
Every reader in genome/ that seeks into BGZF is checked against an uncompressed copy of the same FASTA.
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from genomamba.genome.bgzf import BgzfWriter, scan
from genomamba.genome.fasta import Genome
from genomamba.genome.registry import resolve_genome

from .conftest import random_genome, write_bgzf, write_fasta


def block_edges(genome: Genome) -> list[tuple[str, int, int]]:
    """``(chrom, first, last)`` for each block boundary that falls between two bases of one sequence: ``first`` is
    the base whose byte starts a block, ``last`` the base just before it (the previous block's last base)."""
    edges = []
    for u in genome.blocks.u[1:].tolist():
        for rec in genome._records.values():
            line, col = divmod(u - rec.offset, rec.line_bytes)
            base = line * rec.line_bases + col
            if u >= rec.offset and col < rec.line_bases and 0 < base < rec.length:
                edges.append((rec.name, base, base - 1))
    return edges


def _plain_copy(tmp_path, bgzf_path):
    plain = tmp_path / "plain.fa"
    plain.write_bytes(gzip.decompress(bgzf_path.read_bytes()))
    return Genome(plain)


# every reader that ends in a BGZF seek: name -> f(genome, chrom, start, end) -> comparable value
READERS = {
    "fetch": lambda g, c, a, b: g.fetch(c, a, b),
    "fetch_tokens": lambda g, c, a, b: tuple(x.tobytes() for x in g.fetch_tokens(c, a, b)),
    "fetch_tokens_minus": lambda g, c, a, b: tuple(x.tobytes() for x in g.fetch_tokens(c, a, b, strand="-")),
    "read_bases": lambda g, c, a, b: g.read_bases(c, a, b).tobytes(),
}


def _check_edges(genome: Genome, plain: Genome, reader: str, edges) -> None:
    read = READERS[reader]
    for chrom, first, last in edges:
        n = genome.contigs[chrom]
        intervals = [
            (first, first + 1),  # the first base of a block alone
            (last, last + 1),  # the last base of the previous block alone
            (last, first + 1),  # the two bases either side of the boundary
            (max(0, first - 700), min(n, first + 700)),  # a longer read across the boundary
            (first, min(n, first + 70_000)),  # from a block's first base over the whole next block
        ]
        for a, b in intervals:
            assert read(genome, chrom, a, b) == read(plain, chrom, a, b), (reader, chrom, a, b)


@pytest.mark.parametrize("reader", list(READERS))
def test_bundled_yeast_block_edges(reader, tmp_path):
    fasta, _ = resolve_genome("yeast_chrI")
    genome = Genome(fasta)
    edges = block_edges(genome)
    assert len(edges) == 3  # chr I's three block boundaries all fall on a base, not on a newline
    _check_edges(genome, _plain_copy(tmp_path, fasta), reader, edges)


@pytest.mark.parametrize("width", [60, 61, 64, 1_000])
@pytest.mark.parametrize("reader", list(READERS))
def test_synthetic_block_edges(reader, width, tmp_path):
    # several 64 KiB blocks and three sequences, so some boundaries fall inside sequences and some near headers
    seqs = random_genome(seed=width, lengths=(150_001, 70_000, 5_000), names=("chrA", "chrB", "chrC"))
    fasta = write_bgzf(tmp_path / "g.fa.gz", seqs, width=width)
    genome = Genome(fasta)
    plain = Genome(write_fasta(tmp_path / "g.fa", seqs, width=width))
    edges = block_edges(genome)
    assert edges  # the file really has block boundaries between bases
    _check_edges(genome, plain, reader, edges)


def test_iter_chunks_ending_on_block_edges(tmp_path):
    fasta, _ = resolve_genome("yeast_chrI")
    genome = Genome(fasta)
    plain = _plain_copy(tmp_path, fasta)
    (chrom, first, _), *_ = block_edges(genome)
    whole = plain.read_bases(chrom).tobytes()
    chunks = list(genome.iter_chunks(chrom, chunk_bases=first))  # every chunk starts on a block's first base
    assert b"".join(c.tobytes() for _, c in chunks) == whole
    assert [s for s, _ in chunks] == list(np.arange(0, len(whole), first))


def test_block_table_and_writer_agree_with_biopython(tmp_path):
    from Bio import bgzf as bio_bgzf

    data = write_fasta(tmp_path / "g.fa", random_genome(seed=3, lengths=(300_000,), names=("x",))).read_bytes()
    ours = tmp_path / "ours.fa.gz"
    with open(ours, "wb") as fh, BgzfWriter(fh) as out:
        for i in range(0, len(data), 10_007):  # writes that do not line up with blocks
            out.write(data[i : i + 10_007])
    for path in (ours, write_bgzf(tmp_path / "bio.fa.gz", random_genome(seed=3, lengths=(300_000,), names=("x",)))):
        with open(path, "rb") as fh:
            blocks = list(bio_bgzf.BgzfBlocks(fh))  # (c_start, c_len, u_start, u_len), the EOF marker last
        assert blocks[-1][3] == 0
        table = scan(path)
        assert table.c.tolist() == [b[0] for b in blocks[:-1]] and table.u.tolist() == [b[2] for b in blocks[:-1]]
    assert gzip.decompress(ours.read_bytes()) == data
    assert Genome(ours).read_bases("x").tobytes() == Genome(tmp_path / "g.fa").read_bases("x").tobytes()
