"""GenBank/EMBL input: records built here with Biopython from the bundled yeast chr I (sequence and GFF genes);
``genomamba windows`` on them equals windows on the same sequences as FASTA, and their features export as GFF3
that ``read_transcripts`` reads back to the original transcripts."""

from __future__ import annotations

import gzip
import urllib.parse

import numpy as np
import pytest

from genomamba.cli import main
from genomamba.errors import GenomambaError
from genomamba.finetune.gff import read_transcripts
from genomamba.genome.fasta import Genome
from genomamba.genome.genbank import genbank_to_gff
from genomamba.genome.registry import resolve_genome
from genomamba.genome.windows import WindowsDir

from .conftest import listing, write_fasta

# two records cut from chr I: the first 50 kb, and a stretch holding two spliced genes (one on each strand)
REGIONS = {"chrI_a": (0, 50_000), "chrI_b": (140_000, 152_000)}


def _gff_rows(path):
    with gzip.open(path, "rt") as fh:
        for line in fh:
            cols = line.rstrip("\n").split("\t")
            if len(cols) == 9 and cols[2] in ("gene", "mRNA", "exon", "CDS"):
                attrs = dict(kv.split("=", 1) for kv in cols[8].split(";"))
                attrs = {k: urllib.parse.unquote(v) for k, v in attrs.items()}
                yield cols[2], int(cols[3]) - 1, int(cols[4]), cols[6], cols[7], attrs


@pytest.fixture(scope="module")
def yeast():
    """(chr I sequence in its original case, GFF rows of features that lie inside one of REGIONS)."""
    from Bio import SeqIO

    fasta, gff = resolve_genome("yeast_chrI")
    with gzip.open(fasta, "rt") as fh:
        (record,) = SeqIO.parse(fh, "fasta")
    rows = {}
    for ftype, start, end, strand, phase, attrs in _gff_rows(gff):
        for name, (lo, hi) in REGIONS.items():
            if lo <= start and end <= hi:
                rows.setdefault(name, []).append((ftype, start - lo, end - lo, strand, phase, attrs))
    return str(record.seq), rows


def _location(parts, strand):
    from Bio.SeqFeature import CompoundLocation, FeatureLocation

    sign = 1 if strand == "+" else -1
    parts = sorted(parts, reverse=sign < 0)  # transcription order
    locs = [FeatureLocation(s, e, strand=sign) for s, e in parts]
    return locs[0] if len(locs) == 1 else CompoundLocation(locs)


def _records(yeast):
    """SeqRecords of REGIONS with gene, mRNA (exons as parts) and CDS features taken from the yeast GFF."""
    from Bio.Seq import Seq
    from Bio.SeqFeature import SeqFeature
    from Bio.SeqRecord import SeqRecord

    seq, rows = yeast
    out = []
    for name, (lo, hi) in REGIONS.items():
        rec = SeqRecord(Seq(seq[lo:hi]), id=name, name=name, description="yeast chr I part")
        rec.annotations["molecule_type"] = "DNA"
        by_id = {a["ID"]: (t, s, e, st, a) for t, s, e, st, _, a in rows[name] if "ID" in a}
        parts: dict[str, list] = {}
        phases: dict[str, list] = {}
        for t, s, e, _, ph, a in rows[name]:
            if t in ("exon", "CDS"):
                key = a["Parent"] if t == "exon" else "cds:" + a["ID"]
                parts.setdefault(key, []).append((s, e))
                phases.setdefault(key, []).append((s, int(ph) if ph != "." else 0))
        for fid, (t, s, e, st, a) in by_id.items():
            q = {k: [a[k]] for k in ("locus_tag", "gene") if k in a}
            if t == "gene":
                rec.features.append(SeqFeature(_location([(s, e)], st), type="gene", qualifiers=q))
            elif t == "mRNA":
                q["transcript_id"] = [a.get("transcript_id", fid)]
                rec.features.append(SeqFeature(_location(parts[fid], st), type="mRNA", qualifiers=q))
            elif t == "CDS" and "cds:" + fid in parts:
                first = sorted(phases["cds:" + fid], reverse=st == "-")[0][1]
                q.update(protein_id=[a.get("protein_id", fid)], codon_start=[str(first + 1)])
                rec.features.append(SeqFeature(_location(parts["cds:" + fid], st), type="CDS", qualifiers=q))
        out.append(rec)
    return out


@pytest.fixture
def flat_files(tmp_path, yeast):
    """The same two records as .gb, .gb.gz, .embl, plain FASTA and plain-gzip FASTA."""
    from Bio import SeqIO

    recs = _records(yeast)
    folder = tmp_path / "inputs"
    folder.mkdir()
    paths = {"gb": folder / "yeast.gb", "embl": folder / "yeast.embl"}
    SeqIO.write(recs, paths["gb"], "genbank")
    SeqIO.write(recs, paths["embl"], "embl")
    paths["gb.gz"] = folder / "yeast.gbk.gz"
    paths["gb.gz"].write_bytes(gzip.compress(paths["gb"].read_bytes()))
    seq = yeast[0]
    paths["fa"] = write_fasta(folder / "yeast.fa", {n: seq[lo:hi] for n, (lo, hi) in REGIONS.items()})
    paths["fa.gz"] = folder / "yeast_gz.fa.gz"
    paths["fa.gz"].write_bytes(gzip.compress(paths["fa"].read_bytes()))
    return paths


@pytest.mark.parametrize("kind", ["gb", "gb.gz", "embl", "fa.gz"])
def test_genome_reads_flat_files_and_plain_gzip(flat_files, yeast, kind, isolated_cache):
    genome = Genome(flat_files[kind])
    assert genome.contigs == {n: hi - lo for n, (lo, hi) in REGIONS.items()}
    assert genome.fasta_path.is_relative_to(isolated_cache)  # read through the BGZF copy in the cache
    for name, (lo, hi) in REGIONS.items():
        expected = yeast[0][lo:hi]
        got = genome.fetch(name, 0, hi - lo)
        assert got == (expected if kind == "fa.gz" else expected.upper())  # flat files carry no soft-mask


@pytest.mark.parametrize("kind", ["gb", "gb.gz", "embl", "fa.gz"])
def test_windows_on_flat_files_equals_windows_on_fasta(flat_files, tmp_path, kind):
    outs = {}
    for k in ("fa", kind):
        outs[k] = tmp_path / f"w_{k.replace('.', '_')}"
        argv = ["windows", "--fasta", str(flat_files[k]), "--out", str(outs[k]), "--window-size", "4096"]
        assert main(argv) == 0
    ref, got = WindowsDir(outs["fa"]), WindowsDir(outs[kind], verify=True)
    assert (outs[kind] / "tokens.u8").read_bytes() == (outs["fa"] / "tokens.u8").read_bytes()
    assert got.contigs.drop("md5").equals(ref.contigs.drop("md5")) and got.windows.drop("softmask_frac").equals(
        ref.windows.drop("softmask_frac")
    )
    assert got.contigs["md5"].to_list() == ref.contigs["md5"].to_list()  # md5 of the uppercase sequence
    assert ref.softmask.any() and (kind == "fa.gz") == bool(got.softmask.any())
    assert got.qc["genome"]["fasta"] == str(flat_files[kind])  # provenance names the input, not the cached copy


def test_genbank_to_gff_reads_back_as_the_original_transcripts(flat_files, yeast, tmp_path):
    out = tmp_path / "from_gb.gff3"
    n = genbank_to_gff(flat_files["gb"], out)
    assert n == sum(1 for line in out.read_text().splitlines() if not line.startswith("#")) > 0
    got = {(t.chrom, t.start, t.end, t.strand, tuple(t.sorted_exons())) for t in read_transcripts(out)}
    expected = set()
    for name, rows in yeast[1].items():
        exons = {}
        for t, s, e, _, _, a in rows:
            if t == "exon":
                exons.setdefault(a["Parent"], []).append((s, e))
        for t, s, e, st, _, a in rows:
            if t == "mRNA":
                expected.add((name, s, e, st, tuple(sorted(exons[a["ID"]]))))
    assert got == expected
    assert any(len(exons) > 1 for *_, exons in got)  # spliced genes really are in the test
    # CDS phases survive the round trip (codon_start -> phase of every part), spliced CDSs included
    ours = {(c[0], int(c[3]) - 1, int(c[4]), c[7]) for c in _columns(out) if c[2] == "CDS"}
    theirs = {(name, s, e, ph) for name, rows in yeast[1].items() for t, s, e, _, ph, _ in rows if t == "CDS"}
    assert ours == theirs
    parents = {c[8] for c in _columns(out) if c[2] == "CDS"}
    assert all("Parent=rna-" in p for p in parents)  # CDSs hang off their mRNA, as make-task expects
    assert genbank_to_gff(flat_files["embl"], tmp_path / "from_embl.gff3") == n


def _columns(gff):
    return [line.split("\t") for line in gff.read_text().splitlines() if not line.startswith("#")]


# -------------------------------------------------------------------------------------------------- bad input
def test_bad_flat_files(tmp_path, flat_files):
    wrong = tmp_path / "notes.gb"
    wrong.write_text(">chr1\nACGT\n")
    with pytest.raises(GenomambaError, match="not a genbank file"):
        Genome(wrong)
    cut = tmp_path / "cut.gb.gz"
    data = flat_files["gb.gz"].read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(GenomambaError, match="^.*cut.gb.gz: truncated gzip") as exc:
        Genome(cut)
    assert "\n" not in exc.value.render()
    dup = tmp_path / "dup.gb"
    text = flat_files["gb"].read_text()
    dup.write_text(text.replace("chrI_b", "chrI_a"))
    with pytest.raises(GenomambaError, match="duplicate or missing sequence name"):
        Genome(dup)
    cut = tmp_path / "cut.gb"
    cut.write_text(text[: len(text) * 3 // 4])  # Biopython only warns about this and returns a shorter sequence
    with pytest.raises(GenomambaError, match=r"cut.gb:chrI_\w: truncated: (Premature end|Expected sequence length)"):
        Genome(cut)
    mangled = tmp_path / "mangled.gb"
    mangled.write_text(text.replace("ORIGIN", "ORIGINAL", 1))
    with pytest.raises(GenomambaError) as exc:
        Genome(mangled)
    assert str(mangled) in exc.value.render() and "\n" not in exc.value.render()
    assert [p for p in listing(tmp_path) if p.startswith(".")] == []
    with pytest.raises(GenomambaError, match="not a GenBank/EMBL file name"):
        genbank_to_gff(flat_files["fa"], tmp_path / "x.gff3")
    assert np.all([not p.endswith(".gff3") for p in listing(tmp_path)])
