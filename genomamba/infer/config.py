"""Settings of the inference commands (``embed``, ``probe``, ``track``, ``ism``): the one home of their defaults
and bounds. Light on purpose (no torch), so the CLI can show defaults in ``--help`` without loading the model code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from genomamba.config import all_finite
from genomamba.devices import check_device_name
from genomamba.infer.trackio import MAX_ZOOMS
from genomamba.vep.config import DEFAULT_CONTEXT, MIN_CONTEXT

Strands = Literal["forward", "average", "concat"]
Pooling = Literal["mean", "center", "none"]
STRANDS: tuple[str, ...] = get_args(Strands)
POOLINGS: tuple[str, ...] = get_args(Pooling)


@dataclass
class EmbedConfig:
    layer: int = -1  # hidden state after block k (0 = embedding, -1 = the final-norm output heads read)
    pooling: Pooling = "mean"  # "none": per-token features (.npy output)
    strands: Strands = "average"  # average: RC-invariant features
    batch_size: int = 32  # sequences per forward pass (similar lengths batched together)
    chunk_rows: int = 1024  # input rows held at once (bounds memory)
    flank: int = 0  # interval inputs: context bases added on each side
    dtype: Literal["float32", "float16"] = "float32"  # stored precision of .npy features
    device: str = "auto"
    threads: int = 0  # torch threads; 0 = leave the default

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS or self.strands not in STRANDS:
            raise ValueError(f"pooling must be {'|'.join(POOLINGS)} and strands {'|'.join(STRANDS)}")
        if self.batch_size < 1 or self.chunk_rows < 1:
            raise ValueError("batch_size and chunk_rows must be >= 1")
        if self.flank < 0 or self.threads < 0:
            raise ValueError("flank and threads must be >= 0")
        check_device_name(self.device)


@dataclass
class ProbeConfig:
    """A frozen-embedding linear probe: features from ``embed`` (pooled), a standardised logistic (classification)
    or ridge (regression) fit whose strength is chosen by k-fold cross-validation on ``cv_splits``."""

    layer: int = -1
    pooling: Literal["mean", "center"] = "mean"  # mean: the published frozen-embedding protocol
    strands: Strands = "average"
    folds: int = 5  # k of the stratified (classification) or plain k-fold cross-validation
    # logistic C, or 1 / ridge alpha: larger = weaker regularisation
    strengths: list[float] = field(default_factory=lambda: [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0])
    cv_splits: list[str] = field(default_factory=lambda: ["train", "val"])  # the rows the probe is fitted on
    max_iter: int = 2000
    batch_size: int = 32
    kmer_baseline: bool = True  # the k-mer baseline on the same splits, in the same report
    seed: int = 0
    device: str = "auto"
    threads: int = 0

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ValueError(f"folds must be >= 2, got {self.folds}")
        if not self.strengths or not all_finite(*self.strengths) or any(s <= 0 for s in self.strengths):
            raise ValueError(f"strengths must be a non-empty list of finite numbers > 0, got {self.strengths}")
        if not self.cv_splits or any(s not in ("train", "val") for s in self.cv_splits):
            raise ValueError(f"cv_splits must be train and/or val (test is the evaluation split), got {self.cv_splits}")
        if self.batch_size < 1 or self.max_iter < 1 or self.threads < 0:
            raise ValueError("batch_size and max_iter must be >= 1, threads >= 0")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.strands not in STRANDS:
            raise ValueError(f"strands must be {'|'.join(STRANDS)}")
        check_device_name(self.device)


TRACK_FORMATS = ("bigwig", "bedgraph")
ONE_PASS_TILE, ONE_PASS_MARGIN = 65536, 8192  # fusion "head" models and fine-tuned position heads
MASKED_TILE, MASKED_MARGIN = 128, 512  # fusion "layer" LMs: one masked pass per base, over tile + 2 * margin
AUTO_BATCH_BASES = 65536  # batch_size 0: as many windows per forward pass as fit in this many bases (>= 1)


@dataclass
class TrackConfig:
    """Per-base tracks streamed in tiles: each tile's ``tile`` bases are computed in one window reaching ``margin``
    bases further on each side (clipped at sequence ends); see ``infer.tracks`` for why margins, not carried state."""

    tile: int = 0  # bases per tile; 0 = auto: 65536 for one-pass models, 128 for masked passes (fusion layer)
    margin: int | None = None  # context bases each side of a tile; None = auto: 8192 one-pass, 512 masked
    strands: Literal["auto", "both", "forward"] = "auto"  # LMs: auto = forward for RC-symmetric models, else both
    batch_size: int = 0  # windows per forward pass; 0 = auto (AUTO_BATCH_BASES // window length)
    window: int = 0  # sequence heads: window length; 0 = the longest training sequence of the fine-tuning data
    step: int = 0  # sequence heads: one value per step bases (window centred on it); 0 = window // 4
    formats: list[str] = field(default_factory=lambda: ["bigwig"])  # bigwig and/or bedgraph
    # bigWig zoom levels (browsers' zoomed-out summaries). pyBigWig holds them in memory until the file closes (~14
    # bytes per base), so auto = 10 levels up to ZOOMS_AUTO_BASES of track and none above: memory stays bounded
    bigwig_zooms: int | Literal["auto"] = "auto"
    head_output: int | None = None  # fine-tuned heads: class / target read out (default: the last output)
    device: str = "auto"
    threads: int = 0

    def __post_init__(self) -> None:
        zooms = self.bigwig_zooms
        if zooms != "auto" and not (isinstance(zooms, int) and 0 <= zooms <= MAX_ZOOMS):
            raise ValueError(f"bigwig_zooms must be auto or 0..{MAX_ZOOMS}, got {zooms!r}")
        if self.tile < 0 or self.batch_size < 0 or self.window < 0 or self.step < 0 or self.threads < 0:
            raise ValueError("tile, batch_size, window, step and threads must be >= 0")
        if self.margin is not None and self.margin < 0:
            raise ValueError(f"margin must be >= 0, got {self.margin}")
        if self.head_output is not None and self.head_output < 0:
            raise ValueError(f"head_output must be a class / target index >= 0, got {self.head_output}")
        bad = [f for f in self.formats if f not in TRACK_FORMATS]
        if not self.formats or bad:
            raise ValueError(f"formats must be a non-empty list of {'|'.join(TRACK_FORMATS)}, got {self.formats}")
        check_device_name(self.device)

    def geometry(self, masked: bool) -> tuple[int, int]:
        """(tile, margin) with the auto values filled in for one-pass or masked models."""
        tile = self.tile or (MASKED_TILE if masked else ONE_PASS_TILE)
        margin = self.margin if self.margin is not None else (MASKED_MARGIN if masked else ONE_PASS_MARGIN)
        return tile, margin


@dataclass
class IsmConfig:
    """Saturation mutagenesis of a region: every position, every alternative base, scored as ``score-vcf`` would
    score that SNV (same windows: ``context``, mirror-symmetric tiles; same strand policy)."""

    context: int = DEFAULT_CONTEXT  # window length in bases, as score-vcf --context
    strands: Literal["auto", "both", "forward"] = "auto"  # as score-vcf --strands
    batch_size: int = 0  # windows per forward pass; 0 = auto (as score-vcf)
    per_variant: bool = False  # one pass per (position, alt) instead of one per tile (comparisons, benchmark)
    head_output: int | None = None  # fine-tuned heads: class / target index (default: the last output)
    max_bases: int = 100_000  # refuse larger regions: 3 rows per base
    chunk_bases: int = 256  # positions scored (and held) at a time by fine-tuned heads
    device: str = "auto"
    threads: int = 0

    def __post_init__(self) -> None:
        if self.context < MIN_CONTEXT:
            raise ValueError(f"context must be >= {MIN_CONTEXT} bases, got {self.context}")
        if self.batch_size < 0 or self.threads < 0:
            raise ValueError("batch_size and threads must be >= 0")
        if self.head_output is not None and self.head_output < 0:
            raise ValueError(f"head_output must be a class / target index >= 0, got {self.head_output}")
        if self.max_bases < 1 or self.chunk_bases < 1:
            raise ValueError("max_bases and chunk_bases must be >= 1")
        check_device_name(self.device)

    def scoring(self):
        """The ``ScoreVcfConfig`` that scores the same SNVs in ``score-vcf`` (the ISM's definition)."""
        from genomamba.vep.config import ScoreVcfConfig

        fields = ("context", "strands", "batch_size", "per_variant", "device", "threads")
        return ScoreVcfConfig(**{name: getattr(self, name) for name in fields})
