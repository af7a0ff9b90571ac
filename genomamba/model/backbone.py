"""Embedding -> n_layer pre-norm residual blocks (fp32 residual stream) -> final RMSNorm.

The mixer of each block follows its letter of ``config.mixer_pattern``: M (Mamba-1) or S (Mamba-2/SSD) is a
BiMamba pair for fusion "layer" and a causal mixer for fusion "head"; A is self-attention, bidirectional for
fusion "layer" and causal for fusion "head". With rc "ps" the embedding, mixers and norms are wrapped in their
RC-PS forms and the stream is 2 * d_model wide.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from genomamba.model.attention import AttentionMixer
from genomamba.model.bimamba import BiMambaMixer
from genomamba.model.config import ModelConfig
from genomamba.model.mixer import MambaMixer
from genomamba.model.norm import RMSNorm
from genomamba.model.rc import RCPSEmbedding, RCPSMixer, RCPSNorm, complement_table
from genomamba.model.ssd_mixer import Mamba2Mixer


def make_mixer(config: ModelConfig, kind: str) -> nn.Module:
    """The sequence mixer for one layer letter (M, S or A), shaped by the fusion design."""
    if kind == "A":
        return AttentionMixer(config, causal=config.fusion == "head")
    mixer_cls = Mamba2Mixer if kind == "S" else MambaMixer
    return BiMambaMixer(config, mixer_cls) if config.fusion == "layer" else mixer_cls(config)


class Block(nn.Module):
    """residual = residual + mixer(norm(residual)); the residual stays fp32 under autocast."""

    def __init__(self, config: ModelConfig, kind: str = "M"):
        super().__init__()
        mixer = make_mixer(config, kind)
        norm: nn.Module = RMSNorm(config.d_model, eps=config.norm_epsilon, backend=config.backend)
        if config.rc == "ps":
            mixer, norm = RCPSMixer(mixer), RCPSNorm(norm)
        self.mixer, self.norm = mixer, norm
        self.residual_in_fp32 = config.residual_in_fp32

    def forward(self, residual: torch.Tensor, seq_idx: torch.Tensor | None = None) -> torch.Tensor:
        """residual: (B, L, H) -> (B, L, H)."""
        out = self.mixer(self.norm(residual), seq_idx)
        if self.residual_in_fp32:
            return residual.float() + out.float()
        return residual.to(out.dtype) + out


class Backbone(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        embedding = nn.Embedding(config.padded_vocab_size, config.d_model)
        nn.init.normal_(embedding.weight, std=config.initializer_range)
        self.embedding: nn.Module = (
            RCPSEmbedding(embedding, complement_table(config.padded_vocab_size)) if config.rc == "ps" else embedding
        )
        self.layers = nn.ModuleList(Block(config, kind) for kind in config.mixer_pattern)
        norm_f = RMSNorm(config.d_model, eps=config.norm_epsilon, backend=config.backend)
        self.norm_f: nn.Module = RCPSNorm(norm_f) if config.rc == "ps" else norm_f

    @property
    def embedding_weight(self) -> torch.Tensor:
        """(padded_vocab, d_model), tied to the LM head."""
        return self.embedding.weight

    def forward(self, input_ids: torch.Tensor, seq_idx: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids: (B, L) int64 -> normed hidden (B, L, d_model), or (B, L, 2 * d_model) with rc "ps"."""
        residual = self.embedding(input_ids)
        if self.config.residual_in_fp32:
            residual = residual.float()
        use_ckpt = torch.is_grad_enabled() and self.config.checkpoint_batch(input_ids.numel())
        for layer in self.layers:
            if use_ckpt:
                residual = checkpoint(layer, residual, seq_idx, use_reentrant=False)
            else:
                residual = layer(residual, seq_idx)
        return self.norm_f(residual)
