"""Settings of variant scoring (``ScoreVcfConfig``): the one home of every default and bound of ``score-vcf``.

The CLI, YAML configs and the tiling read their defaults and limits from here; ``MIN_CONTEXT`` is also the
smallest window ``alleles.make_tiling`` accepts, so the config and the geometry can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from genomamba.devices import check_device_name

MIN_CONTEXT = 64  # bases; the tiling's flank is context // 4, so at least 16 bases of context on each side
DEFAULT_CONTEXT = 4096
AUTO_BATCH_BASES = 65536  # batch_size 0 = as many windows as fit in this many bases (at least one)
MAX_KMER_ORDER = 6  # k bases on each side: 4**(2k) contexts, 4**12 * 4 counts at k = 6
MAX_BOOTSTRAP = 100_000  # replicates run one by one in Python; 1,000 already gives stable 95 % CIs

RefCheck = Literal["error", "warn", "skip"]
Strands = Literal["auto", "both", "forward"]
Score = Literal["llr", "embedding-distance"]


@dataclass
class ScoreVcfConfig:
    context: int = DEFAULT_CONTEXT  # window length in bases (C); each variant gets >= C/4 bases on each side
    # zero-shot score of a pretrained LM: "llr" = log P(alt) - log P(ref); "embedding-distance" = 1 - cosine of the
    # hidden states at the variant, ALT vs REF window (BEND's protocol; SNVs only)
    score: Score = "llr"
    batch_size: int = 0  # sequences per forward pass; 0 = auto: max(1, AUTO_BATCH_BASES // context)
    ref_check: RefCheck = "error"  # what a REF that disagrees with the FASTA does
    # "both": also score the reverse complement and average; "auto": "both" unless the scorer is reverse-complement
    # equivariant by construction (fusion "head", rc "ps"/"posthoc", the k-mer baseline), whose reverse pass would
    # only repeat the forward value at twice the cost
    strands: Strands = "auto"
    chunk_records: int = 2048  # VCF records held in memory at once
    haplotype_flank: int = 16  # bases each side of an indel/MNV inside its pseudo-likelihood region
    max_indel_length: int = 64  # longer REF/ALT changes are flagged INDEL_TOO_LONG
    per_variant: bool = False  # one forward pass per variant instead of one per shared window (comparisons)
    tile_cache: int = 4  # recent tile log-probabilities kept (sorted input shares tiles across chunks)
    keep_info: list[str] = field(default_factory=list)  # INFO fields copied into TSV/Parquet columns
    threads: int = 0  # torch / htslib threads; 0 = leave the defaults
    device: str = "auto"  # auto (CUDA when present, logged) | cpu | cuda | cuda:N
    kmer_baseline: int | None = None  # score with the two-sided k-mer model of this order instead of a checkpoint
    head_output: int | None = None  # fine-tuned heads: the class / target whose prediction change is the score

    def __post_init__(self) -> None:
        if self.kmer_baseline is not None and not 1 <= self.kmer_baseline <= MAX_KMER_ORDER:
            raise ValueError(f"kmer_baseline order must be 1..{MAX_KMER_ORDER}, got {self.kmer_baseline}")
        if self.head_output is not None and self.head_output < 0:
            raise ValueError(f"head_output must be a class / target index >= 0, got {self.head_output}")
        if self.context < MIN_CONTEXT:
            raise ValueError(f"context must be >= {MIN_CONTEXT} bases, got {self.context}")
        if self.batch_size < 0 or self.threads < 0 or self.tile_cache < 0:
            raise ValueError("batch_size, threads and tile_cache must be >= 0")
        if self.chunk_records < 1 or self.haplotype_flank < 1 or self.max_indel_length < 1:
            raise ValueError("chunk_records, haplotype_flank and max_indel_length must be >= 1")
        check_device_name(self.device)

    @property
    def effective_batch_size(self) -> int:
        return self.batch_size or max(1, AUTO_BATCH_BASES // self.context)


# where evaluate_vep reads labels when no label field is named: an INFO field / column of the scores file, or a
# column of the separate labels TSV
LABEL_FIELD = "LABEL"
LABELS_TSV_COLUMN = "label"


@dataclass
class EvaluateVepConfig:
    score_field: str = "GM_LLR"  # INFO field (VCF) or column (TSV/Parquet; GM_LLR -> llr, GM_DELTA -> delta)
    label_field: str | None = None  # None: LABEL_FIELD in the scores file, LABELS_TSV_COLUMN in a labels TSV
    group_field: str | None = None  # INFO field / column with a group per variant (e.g. CSQ)
    contrasts: list[str] = field(default_factory=list)  # "POS_GROUP:NEG_GROUP", group A positives vs group B
    higher_is_positive: bool = False  # default: lower score = more damaging (scores negated)
    bootstrap: int = 1000  # chromosome-stratified bootstrap replicates; 0 = no CIs
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.bootstrap <= MAX_BOOTSTRAP:
            raise ValueError(f"bootstrap must be in 0..{MAX_BOOTSTRAP:,} (0 = no CIs), got {self.bootstrap}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        for item in self.contrasts:
            a, sep, b = item.partition(":")
            if not sep or not a or not b:
                raise ValueError(f"contrast {item!r} must look like POS_GROUP:NEG_GROUP")
        if self.contrasts and not self.group_field:
            raise ValueError("contrasts need group_field (the field holding the classes)")

    @property
    def contrast_pairs(self) -> list[tuple[str, str]]:
        return [tuple(item.split(":", 1)) for item in self.contrasts]  # type: ignore[misc]
