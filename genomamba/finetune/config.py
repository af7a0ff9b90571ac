"""Configs of the fine-tuning commands (finetune, predict, evaluate): the single source of their defaults and
ranges. Only light imports here, so ``--help`` can show the defaults without loading torch or polars."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from genomamba.backends import Backend
from genomamba.baselines.kmer_classifier import KmerBaselineConfig
from genomamba.config import all_finite, load_config
from genomamba.devices import check_device_name
from genomamba.genome.splits import SPLIT_ALIASES

if TYPE_CHECKING:
    from genomamba.model.config import ModelConfig


@dataclass
class DataConfig:
    """Where a labeled dataset is and how to read it (the ``data:`` section of a fine-tuning config)."""

    path: str = ""
    fasta: str | None = None  # FASTA path or bundled genome name: ``path`` is then an interval table
    sequence_column: str = "sequence"
    label_column: str = "label"
    split_column: str = "split"
    id_column: str | None = None  # row identifiers for predictions; default: "name" for intervals, else row number
    task: Literal["auto", "binary", "multiclass", "regression"] = "auto"
    classes: list[str] | None = None  # fixed class order (else sorted labels of the training split)
    flank: int = 0  # bases of genomic context added on each side of an interval
    resplit: str | None = None  # "train"|"val"|"test"|"all": re-deal these rows into train/val/test
    resplit_fractions: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    split_seed: int = 0

    def __post_init__(self) -> None:
        if self.flank < 0:
            raise ValueError(f"flank must be >= 0, got {self.flank}")
        if self.split_seed < 0:
            raise ValueError(f"split_seed must be >= 0, got {self.split_seed}")
        if self.classes is not None and (len(self.classes) < 2 or len(set(self.classes)) != len(self.classes)):
            raise ValueError(f"classes must name at least 2 distinct classes, got {self.classes}")
        if self.resplit is not None and self.resplit != "all" and self.resplit not in SPLIT_ALIASES:
            raise ValueError(f"resplit must be all|train|val|test, got {self.resplit!r}")
        fr = self.resplit_fractions
        if len(fr) != 3 or not all_finite(*fr) or any(f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6 or fr[0] <= 0:
            raise ValueError(f"resplit_fractions (train, val, test) must be >= 0, sum to 1, train > 0: {fr}")


@dataclass
class HeadOptions:
    """The ``head:`` section: how sequence features become one prediction."""

    pooling: Literal["mean", "center"] = "mean"
    train_strands: Literal["forward", "both"] = "forward"  # "forward" + rc_augment is half the cost of "both"
    eval_strands: Literal["forward", "both"] = "both"  # both-strand averaging at validation / prediction
    rc_augment: bool = True  # reverse-complement half of each training batch (forward training only)
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"head.dropout must be in [0, 1), got {self.dropout}")


@dataclass
class FinetuneOptim:
    """The ``optim:`` section. ``backbone_lr`` None: same as ``lr``; ``freeze_backbone`` trains the head only."""

    lr: float = 1e-3
    backbone_lr: float | None = None
    freeze_backbone: bool = False
    weight_decay: float = 0.01
    warmup_steps: int = 50
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping

    def __post_init__(self) -> None:
        rates = [self.lr] if self.backbone_lr is None else [self.lr, self.backbone_lr]
        if not all_finite(*rates) or min(rates) <= 0:
            raise ValueError(f"learning rates must be > 0 (finite), got {rates}")
        if not all_finite(self.weight_decay, self.grad_clip):
            raise ValueError(f"weight_decay and grad_clip must be finite, got {self.weight_decay}, {self.grad_clip}")
        if self.weight_decay < 0 or self.warmup_steps < 0 or self.grad_clip < 0:
            raise ValueError("need weight_decay >= 0, warmup_steps >= 0, grad_clip >= 0")


@dataclass
class FinetuneTrain:
    """The ``train:`` section."""

    batch_size: int = 32
    eval_batch_size: int = 64
    max_epochs: int = 10
    max_steps: int | None = None  # stop after this many optimizer steps (validation runs at the end)
    max_train_samples: int | None = None  # use a seeded subset of the training split (fast runs)
    patience: int = 3  # epochs without a better validation metric before stopping
    max_time_minutes: float | None = None
    class_weights: Literal["none", "balanced"] | list[float] = "none"
    threads: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"train.seed must be >= 0, got {self.seed}")
        for name in ("batch_size", "eval_batch_size", "max_epochs", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_steps", "max_train_samples", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"train.{name} must be >= 1 (or null), got {value}")
        minutes = self.max_time_minutes
        if minutes is not None and not (all_finite(minutes) and minutes > 0):
            raise ValueError(f"train.max_time_minutes must be > 0 (or null), got {minutes}")
        weights = self.class_weights
        if isinstance(weights, list) and (not all_finite(*weights) or any(w <= 0 for w in weights)):
            raise ValueError(f"train.class_weights must be > 0 (finite), got {weights}")


@dataclass
class FinetuneConfig:
    """Everything ``genomamba finetune`` needs. Initialise from ``pretrained`` (a checkpoint directory) or from
    scratch with ``model_config`` (+ ``model`` overrides); ``from_scratch: true`` with ``pretrained`` uses the
    checkpoint's architecture with fresh weights (the like-for-like comparison)."""

    data: DataConfig = field(default_factory=DataConfig)
    pretrained: str | None = None
    from_scratch: bool = False
    model_config: str = "tiny"  # a name under configs/model/ or a ModelConfig YAML (used without pretrained)
    # ModelConfig fields on top of model_config: a partial mapping, checked by scratch_model()
    model: dict[str, Any] = field(default_factory=dict)
    backend: Backend | None = None  # override the scan backend
    head: HeadOptions = field(default_factory=HeadOptions)
    optim: FinetuneOptim = field(default_factory=FinetuneOptim)
    train: FinetuneTrain = field(default_factory=FinetuneTrain)
    baseline: bool = True  # fit the k-mer baseline on the same splits and report it beside the model
    kmer: KmerBaselineConfig = field(default_factory=KmerBaselineConfig)

    def __post_init__(self) -> None:
        if self.pretrained is not None and self.model:
            raise ValueError("give either pretrained or model overrides, not both (the checkpoint fixes the model)")

    @property
    def init(self) -> str:
        """How the network starts: ``scratch`` or ``pretrained:<checkpoint>`` (recorded with the metrics)."""
        return "scratch" if (self.from_scratch or self.pretrained is None) else f"pretrained:{self.pretrained}"

    def scratch_model(self) -> ModelConfig:
        """The architecture for training without ``pretrained``: ``model_config`` + ``model`` + ``backend``."""
        from genomamba.model.config import ModelConfig

        fields = dict(self.model)
        if self.backend is not None:
            fields["backend"] = self.backend
        return ModelConfig.from_preset(self.model_config, fields)


def load_finetune_config(
    path: str | os.PathLike | None = None, overrides: list[str] = (), flags: dict[str, Any] | None = None
) -> FinetuneConfig:
    """YAML file < ``key=value`` overrides < typed flag values, checked once (``genomamba.config.load_config``);
    without ``pretrained`` the architecture is resolved too, so a bad model_config or model field fails here."""
    cfg = load_config(FinetuneConfig, path, overrides, flags)
    if cfg.pretrained is None:
        cfg.scratch_model()
    return cfg


@dataclass
class PredictConfig:
    """What ``genomamba predict`` scores and where it writes; ``None`` fields fall back to the checkpoint's own
    dataset settings."""

    checkpoint: str
    out: str  # .parquet, .tsv or .tsv.gz
    split: Literal["train", "val", "test", "all"] = "test"
    input: str | None = None  # a different table/intervals file (same column options); labels optional
    fasta: str | None = None  # reference for an interval ``input``
    flank: int | None = None
    sequence_column: str | None = None
    label_column: str | None = None
    batch_size: int = 64
    strands: Literal["both", "forward"] | None = None  # None: the checkpoint's eval_strands
    backend: Backend | None = None
    device: str = "auto"  # auto (CUDA when present, logged) | cpu | cuda | cuda:N

    def __post_init__(self) -> None:
        check_device_name(self.device)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.flank is not None and self.flank < 0:
            raise ValueError(f"flank must be >= 0, got {self.flank}")
        if self.fasta is not None and self.input is None:
            raise ValueError("fasta names the reference of an interval input: give input too")

    def data_config(self, trained: DataConfig, task: str, classes: list[str]) -> DataConfig:
        """The checkpoint's dataset settings with this run's changes; a new input is a sequence table unless
        ``fasta`` names its reference (explicit, never guessed)."""
        changes: dict = {"task": task, "classes": classes or None}
        if self.input is not None:
            changes.update(path=self.input, resplit=None, id_column=None, fasta=self.fasta)
        for key in ("flank", "sequence_column", "label_column"):
            if getattr(self, key) is not None:
                changes[key] = getattr(self, key)
        return dataclasses.replace(trained, **changes)


@dataclass
class EvaluateConfig:
    """What ``genomamba evaluate`` reads and writes."""

    predictions: str  # a ``genomamba predict`` table; its provenance is ``<predictions>.json``
    out_dir: str
    kmer_baseline: bool = False  # also fit the k-mer baseline on the checkpoint's train/val and score the rows
