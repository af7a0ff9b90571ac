"""Configs of ``genomamba make-task``: the task, its builder's parameters and the split -- the single source of
their defaults and ranges. Only light imports here, so ``--help`` can show the defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from genomamba.config import all_finite
from genomamba.finetune.gff import DEFAULT_TRANSCRIPT_TYPES

# negatives (promoters) or decoys (splice sites) per positive: the sampling tries grow with it, and a larger
# ratio is a typo rather than a task
MAX_NEGATIVE_RATIO = 1000.0


@dataclass
class SplitConfig:
    """How task elements are dealt to train/val/test: whole chromosomes or chromosome blocks (the block holding
    each window centre), by fractions of the elements or by explicit held-out chromosomes."""

    split_by: Literal["block", "chromosome"] = "block"
    block_size: int = 20000  # bp per block (split_by=block)
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train, val, test share of the elements
    seed: int = 0
    val_chroms: tuple[str, ...] = ()  # split_by=chromosome: explicit held-out chromosomes (fractions ignored)
    test_chroms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.split_by not in ("block", "chromosome"):
            raise ValueError(f"split_by must be block or chromosome, got {self.split_by!r}")
        if self.block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {self.block_size}")
        fr = tuple(self.fractions)
        if len(fr) != 3 or not all_finite(*fr) or any(f < 0 for f in fr) or abs(sum(fr) - 1) > 1e-6 or fr[0] <= 0:
            raise ValueError(f"fractions (train, val, test) must be 3 numbers >= 0 summing to 1, train > 0: {list(fr)}")
        if (self.val_chroms or self.test_chroms) and self.split_by != "chromosome":
            raise ValueError("val_chroms/test_chroms need split_by=chromosome")

    @property
    def val_frac(self) -> float:
        return self.fractions[1]

    @property
    def test_frac(self) -> float:
        return self.fractions[2]


@dataclass
class PromoterTaskConfig:
    """TSS-centred windows against background windows (``genomamba.finetune.promoters``)."""

    window: int = 300
    # gc-matched: anywhere away from TSSs; intergenic: gc-matched and outside transcripts; random: unmatched
    background: Literal["gc-matched", "intergenic", "random"] = "gc-matched"
    negatives_per_positive: float = 1.0
    min_tss_distance: int = 50  # TSSs closer than this on the same strand are one positive
    exclusion: int = 500  # background windows keep this far from every TSS window
    max_n_fraction: float = 0.1
    gc_bins: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.window < 2:
            raise ValueError(f"window must be >= 2, got {self.window}")
        if not 0 < self.negatives_per_positive <= MAX_NEGATIVE_RATIO:  # written so that NaN fails too
            raise ValueError(
                f"negatives_per_positive must be in (0, {MAX_NEGATIVE_RATIO:g}] (0 makes a one-class table), "
                f"got {self.negatives_per_positive}"
            )
        for name in ("min_tss_distance", "exclusion"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.max_n_fraction <= 1.0:
            raise ValueError(f"max_n_fraction must be in [0, 1], got {self.max_n_fraction}")
        if self.gc_bins < 1:
            raise ValueError(f"gc_bins must be >= 1, got {self.gc_bins}")


@dataclass
class SpliceTaskConfig:
    """Donor / acceptor windows against GT/AG-matched decoys (``genomamba.finetune.splice_sites``)."""

    window: int = 400
    decoys_per_site: float = 1.0  # decoys per (donor + acceptor) / 2
    exclusion: int = 20  # decoys keep this far from every annotated splice site
    min_intron: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.window < 2:
            raise ValueError(f"window must be >= 2, got {self.window}")
        if not 0 < self.decoys_per_site <= MAX_NEGATIVE_RATIO:  # written so that NaN fails too
            raise ValueError(
                f"decoys_per_site must be in (0, {MAX_NEGATIVE_RATIO:g}] (0 makes a one-class table), "
                f"got {self.decoys_per_site}"
            )
        if self.exclusion < 0:
            raise ValueError(f"exclusion must be >= 0, got {self.exclusion}")
        if self.min_intron < 1:
            raise ValueError(f"min_intron must be >= 1, got {self.min_intron}")


CODING_CLASSES = ("synonymous", "missense", "stop_gained", "start_lost", "stop_lost")


@dataclass
class CodingSnvTaskConfig:
    """Every possible SNV of each gene's longest clean CDS, labelled by its codon change and sampled per class into
    a VCF (``genomamba.finetune.coding_snvs``)."""

    per_class: int = 200  # SNVs sampled per class (all of a class when it has fewer)
    classes: tuple[str, ...] = CODING_CLASSES  # the classes written
    seed: int = 0

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if not 1 <= self.per_class <= 10_000_000:
            raise ValueError(f"per_class must be in 1 .. 10,000,000, got {self.per_class}")
        unknown = set(self.classes) - set(CODING_CLASSES)
        if unknown or not self.classes:
            raise ValueError(f"classes must be a non-empty subset of {list(CODING_CLASSES)}, got {list(self.classes)}")


@dataclass
class MakeTaskConfig:
    """One ``genomamba make-task`` run: which task, from which genome and annotation, into which table."""

    task: Literal["promoters", "splice-sites", "coding-snvs"]
    genome: str  # bundled genome name (its annotation is used unless ``annotation``) or a FASTA path
    out: str  # .tsv, .tsv.gz or .parquet; coding-snvs: .vcf or .vcf.gz
    annotation: str | None = None  # GFF3/GTF (gzip allowed)
    transcript_types: list[str] = field(default_factory=lambda: list(DEFAULT_TRANSCRIPT_TYPES))
    split: SplitConfig = field(default_factory=SplitConfig)
    promoters: PromoterTaskConfig = field(default_factory=PromoterTaskConfig)
    splice_sites: SpliceTaskConfig = field(default_factory=SpliceTaskConfig)
    coding_snvs: CodingSnvTaskConfig = field(default_factory=CodingSnvTaskConfig)

    def __post_init__(self) -> None:
        if not self.transcript_types:
            raise ValueError("transcript_types must name at least one feature type")
