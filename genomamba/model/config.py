"""``ModelConfig``: the single source of model hyperparameters (names as in mamba-ssm and Caduceus).

Loaded from ``configs/model/*.yaml`` with ``genomamba.config.load_config(ModelConfig, path, overrides)``;
saved verbatim in every checkpoint's ``config.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from genomamba.alphabet import TOKENS

Fusion = Literal["layer", "head"]
RCMode = Literal["none", "ps", "posthoc"]
Backend = Literal["auto", "triton", "cpu", "ref"]


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
    # --- execution ---
    backend: Backend = "auto"
    checkpointing: bool = False  # torch.utils.checkpoint per block when gradients are on
    autocast_bf16: bool = True  # bf16 autocast when the input is on CUDA; CPU always runs fp32

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
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got {self.dt_min}, {self.dt_max}")
        if self.vocab_size < len(TOKENS):
            raise ValueError(f"vocab_size must cover the {len(TOKENS)} nucleotide tokens, got {self.vocab_size}")
        if self.fusion == "head" and self.rc != "none":
            # the shared causal stack over both strands is RC-equivariant by construction; ps/posthoc would
            # only add cost, so refuse the combination instead of silently ignoring it
            raise ValueError("fusion 'head' is reverse-complement equivariant by construction; use rc: none")

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
        return 2 * self.d_model if (self.rc == "ps" or self.fusion == "head") else self.d_model
