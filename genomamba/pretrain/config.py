"""Pretraining configuration (the YAML sections ``data``, ``optim``, ``trainer``, ``baselines``): the single source
of defaults and ranges; ``load_pretrain_config`` also resolves the model preset into a typed ``ModelConfig``.

Several genomes train together as ``data.sources``: windows directories, each with a name and a sampling weight.
Each training sample first draws its genome ``i`` with probability ``p_i`` ∝ ``weight_i`` (``temperature`` null)
or ∝ ``weight_i * n_i ** (1 / temperature)`` with ``n_i`` the genome's train bases (temperature 1: in proportion
to size; large: towards uniform), then a crop within it as a single-genome run does.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from genomamba.config import all_finite, load_config
from genomamba.model.config import ModelConfig
from genomamba.optim import OptimConfig


@dataclass
class WarmupStage:
    """One sequence-length warm-up stage: ``steps`` optimizer steps at ``seq_len``."""

    seq_len: int
    steps: int


@dataclass
class SourceConfig:
    """One genome of a pretraining run: a windows directory, its name in metrics and its sampling weight."""

    path: str
    name: str = ""  # "": the directory's name
    weight: float = 1.0
    # GFF3/GTF of this genome for data.genic_weight: a path, "auto" (the registry's annotation of `name`), or ""
    annotation: str = ""

    def __post_init__(self) -> None:
        if not self.path:
            raise ValueError("a data source needs a windows directory path")
        if not self.name:  # the directory's name, made fit to name metrics
            self.name = re.sub(r"[^A-Za-z0-9_-]", "_", os.path.basename(os.path.normpath(self.path))) or "genome"
        if not re.fullmatch(r"[A-Za-z0-9_-]+", self.name):
            raise ValueError(f"source name {self.name!r}: use letters, digits, '_' and '-' only (it names metrics)")
        if not (all_finite(self.weight) and self.weight > 0):
            raise ValueError(f"source {self.name!r}: weight must be a finite number > 0, got {self.weight}")


@dataclass
class HomologGuardConfig:
    """Drop train windows of the other genomes that share many k-mers with the held-out (val + test) windows of
    the ``protect`` genomes: orthologous sequence of a close relative is otherwise seen in training."""

    protect: list[str] = field(default_factory=list)  # source names whose held-out blocks are guarded
    k: int = 24  # k-mer length (both strands; k <= 31)
    max_shared: float = 0.1  # drop a window when more than this fraction of its k-mers occur in the guarded set

    def __post_init__(self) -> None:
        if not 8 <= self.k <= 31:
            raise ValueError(f"homolog_guard.k must be in 8..31, got {self.k}")
        if not 0.0 <= self.max_shared < 1.0:
            raise ValueError(f"homolog_guard.max_shared must be in [0, 1), got {self.max_shared}")


@dataclass
class DataConfig:
    """Pretraining data options (the YAML ``data:`` section)."""

    seq_len: int = 1024  # final training length (after warm-up)
    warmup_stages: list[WarmupStage] = field(default_factory=list)  # shorter lengths first
    tokens_per_micro_batch: int = 8192  # per process; batch size = tokens_per_micro_batch // seq_len
    eval_seq_len: int | None = None  # val/test tile length; None: seq_len
    max_eval_tiles: int = 256  # per split, evenly spaced over the held-out windows
    softmask_weight: float = 0.1  # loss weight of soft-masked (lowercase, repeat) bases, as in GPN
    mlm_probability: float = 0.15  # fusion "layer" models only
    random_strand: Literal["auto", "always", "never"] = "auto"  # auto: off for RC-equivariant ("ps") models
    num_workers: int = 0
    pin_memory: bool = False
    # genomes trained together (windows directories); empty: the one given as ``genomamba pretrain --windows``
    sources: list[SourceConfig] = field(default_factory=list)
    temperature: float | None = None  # null: p_i ∝ weight_i; T: p_i ∝ weight_i * train_bases_i ** (1/T)
    homolog_guard: HomologGuardConfig | None = None  # null: relatives' windows are all kept (see module doc)
    # gene-centric sampling (genomamba.pretrain.genic): crops over annotated exons up to this many times as likely,
    # in sources with an annotation; 1: uniform crop starts
    genic_weight: float = 1.0

    def __post_init__(self) -> None:
        names = [src.name for src in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"data.sources names must be unique, got {names}")
        if self.temperature is not None and not (all_finite(self.temperature) and self.temperature > 0):
            raise ValueError(f"data.temperature must be a finite number > 0 (or null), got {self.temperature}")
        guard = self.homolog_guard
        if guard is not None and names and not set(guard.protect) <= set(names):
            raise ValueError(f"homolog_guard.protect names {guard.protect} must be among data.sources {names}")
        for name in ("seq_len", "tokens_per_micro_batch", "max_eval_tiles"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if self.eval_seq_len is not None and self.eval_seq_len < 1:
            raise ValueError(f"data.eval_seq_len must be >= 1 (or null: seq_len), got {self.eval_seq_len}")
        if self.num_workers < 0:
            raise ValueError(f"data.num_workers must be >= 0, got {self.num_workers}")
        if not 1.0 <= self.genic_weight <= 1000.0:
            raise ValueError(f"data.genic_weight must be in [1, 1000] (1: uniform sampling), got {self.genic_weight}")
        if not 0.0 <= self.softmask_weight <= 1.0:
            raise ValueError(f"softmask_weight {self.softmask_weight} is not in [0, 1]")
        if not 0.0 < self.mlm_probability < 1.0:
            raise ValueError(f"mlm_probability {self.mlm_probability} is not in (0, 1)")
        last = 0
        for st in self.warmup_stages:
            if st.seq_len < 1 or st.steps < 1 or st.seq_len <= last or st.seq_len >= self.seq_len:
                raise ValueError("warmup_stages need increasing seq_len below data.seq_len and steps >= 1")
            last = st.seq_len
        for length in [*self.stage_lengths(), self.eval_len]:
            if length > self.tokens_per_micro_batch or self.tokens_per_micro_batch % length:
                raise ValueError(
                    f"tokens_per_micro_batch {self.tokens_per_micro_batch} must be a multiple of every "
                    f"sequence length (got {length}), so tokens per step stay constant"
                )

    @property
    def eval_len(self) -> int:
        return self.eval_seq_len or self.seq_len

    def stage_lengths(self) -> list[int]:
        return [st.seq_len for st in self.warmup_stages] + [self.seq_len]

    def seq_len_at(self, step: int) -> int:
        """Training length at optimizer step ``step`` (0-based)."""
        end = 0
        for st in self.warmup_stages:
            end += st.steps
            if step < end:
                return st.seq_len
        return self.seq_len


@dataclass
class TrainerConfig:
    """Run length, hardware and bookkeeping (the YAML ``trainer:`` section)."""

    max_steps: int = 1000  # optimizer steps
    max_time_minutes: float | None = None  # stop early at this wall time (checkpoints are still written)
    accumulate_grad_batches: int = 1
    precision: Literal["auto", "32", "bf16-mixed", "16-mixed"] = "auto"  # auto: bf16-mixed on GPU, 32 on CPU
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"
    devices: int = 1  # processes per node (GPUs, or CPU processes with gloo)
    num_nodes: int = 1
    val_every_steps: int = 200
    ckpt_every_steps: int = 200  # Lightning last.ckpt for --resume
    log_every_steps: int = 10
    # threads per process: "auto" = the cores other processes leave free (logged, re-checked during the run);
    # an integer as given; None leaves torch's default
    threads: int | Literal["auto"] | None = "auto"

    def __post_init__(self) -> None:
        counts = ("max_steps", "accumulate_grad_batches", "devices", "num_nodes")
        for name in (*counts, "val_every_steps", "ckpt_every_steps", "log_every_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"trainer.{name} must be >= 1, got {getattr(self, name)}")
        if isinstance(self.threads, int) and self.threads < 1:
            raise ValueError(f"trainer.threads must be >= 1, auto or null, got {self.threads}")
        minutes = self.max_time_minutes
        if minutes is not None and not (all_finite(minutes) and minutes > 0):
            raise ValueError(f"trainer.max_time_minutes must be > 0 (or null), got {minutes}")


@dataclass
class BaselineConfig:
    """k-mer baselines scored on the val/test tiles (the YAML ``baselines:`` section)."""

    enabled: bool = True
    one_sided_orders: list[int] = field(default_factory=lambda: list(range(0, 9)))
    two_sided_orders: list[int] = field(default_factory=lambda: list(range(1, 5)))
    # Dirichlet smoothing strength towards the next lower order; null: chosen per order by 2-fold
    # cross-validation on the train split
    alpha: float | None = None

    def __post_init__(self) -> None:
        if any(k < 0 or k > 10 for k in self.one_sided_orders) or any(k < 1 or k > 5 for k in self.two_sided_orders):
            raise ValueError("one_sided_orders must be in 0..10 and two_sided_orders in 1..5")
        if self.alpha is not None and not (all_finite(self.alpha) and self.alpha > 0):
            raise ValueError(f"alpha must be a finite number > 0 (or null), got {self.alpha}")


@dataclass
class PretrainConfig:
    """Everything ``genomamba pretrain`` needs besides the windows directory and the output directory."""

    model_config: str = "tiny"  # a name under configs/model/ or a path to a ModelConfig YAML
    # ModelConfig fields on top of model_config: a partial mapping, checked by resolve_model()
    model: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")

    def resolve_model(self) -> ModelConfig:
        """The architecture: ``model_config`` (a preset name or YAML path) with the ``model`` fields on top."""
        return ModelConfig.from_preset(self.model_config, self.model)


def load_pretrain_config(
    path: str | os.PathLike | None, overrides: list[str] = (), flags: dict[str, Any] | None = None
) -> tuple[PretrainConfig, ModelConfig]:
    """PretrainConfig from YAML + ``key=value`` overrides + typed flag values, and the resolved ModelConfig."""
    cfg = load_config(PretrainConfig, path, overrides, flags)
    return cfg, cfg.resolve_model()
