"""``ModelConfig``: the single source of model hyperparameters (names as in mamba-ssm and Caduceus).

Loaded from a preset name (``configs/model/<name>.yaml``) or a YAML path with ``ModelConfig.from_preset``;
saved verbatim in every checkpoint's ``config.json``. The questions other stages ask of a model (its training
objective, whether it is reverse-complement symmetric) are answered here, once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from genomamba.alphabet import TOKENS
from genomamba.backends import Backend
from genomamba.config import all_finite
from genomamba.errors import GenomambaError

Fusion = Literal["layer", "head"]
RCMode = Literal["none", "ps", "posthoc"]
Objective = Literal["all", "mlm"]
MIXERS = "MSA"  # Mamba-1, Mamba-2 (SSD), attention


def model_preset_dirs() -> list[Path]:
    """Folders holding the model presets: ``configs/model`` of a source checkout, and the same files as installed
    from a wheel (package ``genomamba._configs``, mapped onto ``configs/`` in pyproject.toml)."""
    dirs = [Path(__file__).resolve().parents[2] / "configs" / "model"]
    try:
        from importlib.resources import files

        dirs.append(Path(str(files("genomamba._configs") / "model")))
    except (ModuleNotFoundError, TypeError):  # plain checkout on PYTHONPATH, no install
        pass
    return [d for d in dirs if d.is_dir()]


def model_config_path(name: str) -> Path:
    """Resolve a model config name: an existing path, else the preset ``<name>.yaml`` (tiny, small, base)."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    for folder in model_preset_dirs():
        if (folder / f"{name}.yaml").is_file():
            return folder / f"{name}.yaml"
    known = sorted({p.stem for d in model_preset_dirs() for p in d.glob("*.yaml")})
    raise GenomambaError(f"model_config {name!r}: no such file and no such preset (presets: {', '.join(known)})")


@dataclass
class ModelConfig:
    # --- from mamba-ssm's MambaConfig / Mamba mixer ---
    d_model: int = 128
    n_layer: int = 4
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dt_rank: int | str = "auto"  # "auto" -> ceil(d_model / 16)
    dt_min: float = 0.001
    dt_max: float = 0.1
    dt_init_floor: float = 1e-4
    dt_scale: float = 1.0
    conv_bias: bool = True
    bias: bool = False  # bias of in_proj / out_proj
    vocab_size: int = len(TOKENS)
    pad_vocab_size_multiple: int = 8
    norm_epsilon: float = 1e-5
    residual_in_fp32: bool = True
    initializer_range: float = 0.02
    rescale_prenorm_residual: bool = True
    # --- bidirectionality and reverse complement (Caduceus names, plus ours) ---
    fusion: Fusion = "head"  # "layer": BiMamba in every block (MLM); "head": causal stack on both strands
    rc: RCMode = "none"  # "ps": parameter-sharing RC equivariance; "posthoc": average x and rc(x) at inference
    bidirectional_strategy: Literal["add", "ew_multiply"] = "add"
    bidirectional_weight_tie: bool = True  # tie in_proj/out_proj of the two directions (fusion "layer")
    # --- mixer family: one letter per layer (M = Mamba-1, S = Mamba-2/SSD, A = attention); one letter repeats ---
    mixer: str | list[str] = "M"  # e.g. "SSSA" or ["S", "S", "S", "A"]; stored as the string
    ssd_d_state: int = 64  # Mamba-2 state size (64-128 in the papers; the SSD cost is nearly flat in it)
    ssd_headdim: int = 64  # channels per SSD head; heads = d_inner / ssd_headdim, one decay per head
    ssd_ngroups: int = 1  # B/C groups shared by heads (as mamba-ssm's ngroups)
    ssd_chunk_size: int = 64  # positions per chunk of the SSD matrix form (a speed knob, not a model change)
    ssd_gated_norm: bool = True  # Mamba-2's gated RMSNorm(y * silu(z)); false: the Mamba-1 gate y * silu(z)
    ssd_matmul_bf16: bool = False  # bf16 operands in the SSD chunk products (fp32 accumulation and state)
    attn_n_heads: int = 4  # attention heads (d_model % attn_n_heads == 0); rotary position embedding
    attn_window: int | None = None  # local window: |query - key| < window; None = full attention (short L only)
    # --- execution ---
    backend: Backend = "auto"
    checkpointing: bool = False  # torch.utils.checkpoint per block when gradients are on
    autocast_bf16: bool = True  # bf16 autocast when the input is on CUDA
    # CPU: bf16 for the projections (in/x/dt/out_proj, fusion-head linears); the scan, its state, the conv,
    # norms and residual stay fp32. "auto": bf16 iff the CPU multiplies bf16 natively (avx512_bf16 / amx)
    cpu_autocast: Literal["auto", "bf16", "off"] = "off"
    # with checkpointing on, recompute blocks only for batches whose activations (estimated by
    # activation_gib) exceed this many GiB; 0: always. Changes memory and time, never results
    checkpoint_budget_gib: float = 0.0

    def __post_init__(self) -> None:
        for name in (
            "d_model",
            "n_layer",
            "d_state",
            "d_conv",
            "expand",
            "vocab_size",
            "pad_vocab_size_multiple",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if isinstance(self.dt_rank, str) and self.dt_rank != "auto":
            raise ValueError(f"dt_rank must be an integer or 'auto', got {self.dt_rank!r}")
        if isinstance(self.dt_rank, int) and self.dt_rank < 1:
            raise ValueError(f"dt_rank must be >= 1, got {self.dt_rank}")
        floats = ("dt_min", "dt_max", "dt_init_floor", "dt_scale", "norm_epsilon", "initializer_range")
        for name in (*floats, "checkpoint_budget_gib"):
            if not all_finite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)}")
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got {self.dt_min}, {self.dt_max}")
        if self.vocab_size < len(TOKENS):
            raise ValueError(f"vocab_size must cover the {len(TOKENS)} nucleotide tokens, got {self.vocab_size}")
        self._check_mixers()
        if self.checkpoint_budget_gib < 0:
            raise ValueError(f"checkpoint_budget_gib must be >= 0, got {self.checkpoint_budget_gib}")
        if self.cpu_autocast not in ("auto", "bf16", "off"):
            raise ValueError(f"cpu_autocast must be auto, bf16 or off, got {self.cpu_autocast!r}")
        if self.fusion == "head" and self.rc != "none":
            # the shared causal stack over both strands is RC-equivariant by construction; ps/posthoc would
            # only add cost, so refuse the combination instead of silently ignoring it
            raise ValueError("fusion 'head' is reverse-complement equivariant by construction; use rc: none")

    def _check_mixers(self) -> None:
        if isinstance(self.mixer, (list, tuple)):
            self.mixer = "".join(self.mixer)
        pattern = self.mixer.upper()
        if not pattern or set(pattern) - set(MIXERS):
            raise ValueError(f"mixer must be letters of {MIXERS} (M Mamba-1, S SSD, A attention), got {self.mixer!r}")
        if len(pattern) not in (1, self.n_layer):
            n, got = self.n_layer, len(pattern)
            raise ValueError(f"mixer pattern {self.mixer!r} has {got} letters; give one (repeated) or n_layer={n}")
        self.mixer = pattern
        if "S" in pattern:
            for name in ("ssd_d_state", "ssd_headdim", "ssd_ngroups", "ssd_chunk_size"):
                if getattr(self, name) < 1:
                    raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
            if self.d_inner % self.ssd_headdim:
                raise ValueError(f"d_inner = expand * d_model = {self.d_inner} must be a multiple of ssd_headdim")
            if self.ssd_heads % self.ssd_ngroups:
                raise ValueError(f"SSD heads ({self.ssd_heads}) must be a multiple of ssd_ngroups ({self.ssd_ngroups})")
        if "A" in pattern:
            if self.attn_n_heads < 1 or self.d_model % self.attn_n_heads:
                raise ValueError(f"d_model ({self.d_model}) must be a multiple of attn_n_heads ({self.attn_n_heads})")
            if (self.d_model // self.attn_n_heads) % 2:
                raise ValueError("attention head width d_model / attn_n_heads must be even (rotary embedding)")
            if self.attn_window is not None and self.attn_window < 1:
                raise ValueError(f"attn_window must be >= 1 or null, got {self.attn_window}")

    @property
    def mixer_pattern(self) -> str:
        """One letter per layer (a single-letter ``mixer`` repeated n_layer times)."""
        return self.mixer * self.n_layer if len(self.mixer) == 1 else self.mixer

    @property
    def ssd_heads(self) -> int:
        return self.d_inner // self.ssd_headdim

    @classmethod
    def from_preset(cls, name: str, overrides: dict[str, Any] | None = None) -> ModelConfig:
        """A preset name or YAML path, with field ``overrides`` on top (checked like the file's own fields)."""
        from genomamba.config import from_dict, read_yaml

        path = model_config_path(name)
        fields = read_yaml(path)
        fields.update(overrides or {})
        return from_dict(cls, fields, path=path, prefix="model.")

    @property
    def objective(self) -> Objective:
        """Pretraining objective: ``all`` (predict every base from both sides) for the two-strand causal head,
        ``mlm`` for BiMamba layers, where each position sees itself."""
        return "mlm" if self.fusion == "layer" else "all"

    @property
    def rc_equivariant(self) -> bool:
        """Reverse-complement equivariant by construction (weights): fusion ``head`` or ``rc: ps``. Such models
        need no random-strand augmentation in training."""
        return self.fusion == "head" or self.rc == "ps"

    @property
    def rc_symmetric_inference(self) -> bool:
        """Predictions on rc(x) are the complement of those on x at inference: the equivariant designs, plus
        ``rc: posthoc`` (which averages both strands). Scoring one strand is then enough."""
        return self.rc_equivariant or self.rc == "posthoc"

    @property
    def cpu_bf16(self) -> bool:
        """Whether CPU projections run in bf16 (``cpu_autocast`` resolved on this machine; auto is logged)."""
        if self.cpu_autocast == "auto":
            from genomamba.threads import resolve_cpu_autocast

            return resolve_cpu_autocast()
        return self.cpu_autocast == "bf16"

    def activation_gib(self, tokens: int) -> float:
        """Estimated memory of the activations a training step saves for backward (no checkpointing), GiB, for
        ``tokens`` = batch x length: 64 bytes per token per d_model per layer and stream (measured with
        saved-tensor hooks: 60-65 for fusion head, 50 for BiMamba layers, fp32 or bf16 projections)."""
        width = self.d_model * (2 if self.rc == "ps" else 1)
        return 64 * width * self.n_layer * 2 * tokens / 2**30

    def checkpoint_batch(self, tokens: int) -> bool:
        """Whether a training batch of ``tokens`` tokens runs with activation checkpointing."""
        if not self.checkpointing:
            return False
        return self.checkpoint_budget_gib == 0 or self.activation_gib(tokens) > self.checkpoint_budget_gib

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def dt_rank_value(self) -> int:
        return math.ceil(self.d_model / 16) if self.dt_rank == "auto" else int(self.dt_rank)

    @property
    def padded_vocab_size(self) -> int:
        m = self.pad_vocab_size_multiple
        return (self.vocab_size + m - 1) // m * m

    @property
    def hidden_size(self) -> int:
        """Width of ``hidden_states``: both strands' channels for ps and fusion head, else d_model."""
        return 2 * self.d_model if self.rc_equivariant else self.d_model
