"""``GenomambaModel``: backbone + weight-tied LM head, for both fusion designs and all RC modes.

fusion "layer": BiMamba blocks; logits at p see x[p] (train with masked-language modelling, mask id 6).
fusion "head":  causal blocks run over x and rc(x); the head sees only x[<p] and x[>p] (no masking).
rc "ps": RC-PS wrappers (exact equivariance); "posthoc": in eval mode, outputs for x and rc(x) are averaged.
[PAD] tokens always start their own segment (added to ``seq_idx``), so padding never changes real positions.
"""

from __future__ import annotations

import contextlib
import logging
import os

import torch
import torch.nn.functional as F
from torch import nn

from genomamba.alphabet import NucleotideTokenizer
from genomamba.backends import BACKENDS
from genomamba.errors import GenomambaError
from genomamba.model.backbone import Backbone
from genomamba.model.config import ModelConfig
from genomamba.model.fusion import FusionHead
from genomamba.model.rc import complement_table, flip_seq_idx, rc_hidden, rc_ids, rc_logits, rcps_lm_logits
from genomamba.model.segments import with_padding_boundaries

log = logging.getLogger(__name__)


class GenomambaModel(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.tokenizer = NucleotideTokenizer()
        self.register_buffer("complement", complement_table(config.padded_vocab_size), persistent=False)
        self.backbone = Backbone(config)
        self.fusion_head = FusionHead(config, self.complement) if config.fusion == "head" else None

    # ------------------------------------------------------------------ public API
    @property
    def hidden_size(self) -> int:
        return self.config.hidden_size

    def forward(self, input_ids: torch.Tensor, seq_idx: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids: (B, L) token ids; seq_idx: (B, L) packed-sequence labels or None.
        Returns logits (B, L, vocab_size), fp32."""
        input_ids, seq_idx = self._check_inputs(input_ids, seq_idx)
        with self._autocast(input_ids):
            if self.config.rc == "posthoc" and not self.training:
                fwd = self._logits(input_ids, seq_idx)
                rev = self._logits(rc_ids(input_ids, self.complement), flip_seq_idx(seq_idx))
                logits = 0.5 * (fwd + rc_logits(rev, self.complement))
            else:
                logits = self._logits(input_ids, seq_idx)
        return logits[..., : self.config.vocab_size].float()

    def hidden_states(self, input_ids: torch.Tensor, seq_idx: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L) ids -> (B, L, hidden_size) final-norm representations (every position sees x[p] and both
        sides). With rc "ps" and fusion "head", the RC of the input gives ``rc_hidden`` of them."""
        input_ids, seq_idx = self._check_inputs(input_ids, seq_idx)
        with self._autocast(input_ids):
            if self.config.rc == "posthoc" and not self.training:
                fwd = self._hidden(input_ids, seq_idx)
                rev = self._hidden(rc_ids(input_ids, self.complement), flip_seq_idx(seq_idx))
                return (0.5 * (fwd.float() + rev.float().flip(1))).float()
            return self._hidden(input_ids, seq_idx).float()

    def fusion_context(
        self, input_ids: torch.Tensor, seq_idx: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """fusion "head" only: (left, right) features (B, L, d_model) that the head combines at each position;
        left[p] depends on x[<p] only, right[p] on x[>p] only."""
        if self.fusion_head is None:
            raise GenomambaError("fusion_context needs a fusion 'head' model")
        input_ids, seq_idx = self._check_inputs(input_ids, seq_idx)
        with self._autocast(input_ids):
            return self._context(input_ids, seq_idx)

    def set_backend(self, backend: str) -> None:
        """Switch the scan backend (selective_scan and ssd) of every mixer (auto|triton|cpu|ref)."""
        if backend not in BACKENDS:
            raise GenomambaError(f"unknown backend {backend!r}; choose {'|'.join(BACKENDS)}")
        self.config.backend = backend
        for module in self.modules():
            if hasattr(module, "backend") and module is not self:
                module.backend = backend

    def num_parameters(self) -> int:
        """Distinct trainable parameters (tied weights counted once)."""
        return sum(p.numel() for p in {id(p): p for p in self.parameters()}.values())

    def save_pretrained(self, path: str | os.PathLike, extra: dict | None = None):
        from genomamba.model.checkpoint import save_checkpoint

        return save_checkpoint(path, self, self.config, kind="lm", extra=extra)

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, map_location: str | torch.device = "cpu", backend: str | None = None
    ) -> GenomambaModel:
        """Load a checkpoint directory (an LM, or the backbone of a fine-tuned checkpoint) in eval mode."""
        from genomamba.model.checkpoint import load_weights, read_meta

        meta = read_meta(path)
        config = meta["model_config"]
        if backend is not None:
            config.backend = backend
        model = cls(config)
        prefix = "model." if meta.get("kind", "lm") != "lm" else ""
        load_weights(path, model, prefix=prefix)
        model.extra = meta.get("extra", {})
        return model.to(map_location).eval()

    # ------------------------------------------------------------------ internals
    def _check_inputs(
        self, input_ids: torch.Tensor, seq_idx: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if input_ids.dim() != 2:
            raise GenomambaError(f"input_ids must be (batch, length), got shape {tuple(input_ids.shape)}")
        if input_ids.numel() == 0:
            raise GenomambaError(f"input_ids is empty, shape {tuple(input_ids.shape)}")
        input_ids = input_ids.long()
        lo, hi = int(input_ids.min()), int(input_ids.max())
        if lo < 0 or hi >= self.config.vocab_size:
            raise GenomambaError(f"token ids must lie in [0, {self.config.vocab_size}), got [{lo}, {hi}]")
        if seq_idx is not None and tuple(seq_idx.shape) != tuple(input_ids.shape):
            raise GenomambaError(f"seq_idx shape {tuple(seq_idx.shape)} != input_ids {tuple(input_ids.shape)}")
        return input_ids, with_padding_boundaries(input_ids, seq_idx)

    def _autocast(self, input_ids: torch.Tensor):
        if input_ids.is_cuda and self.config.autocast_bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _streams(self, input_ids, seq_idx) -> tuple[torch.Tensor, torch.Tensor]:
        """fusion "head": stack output on x and on rc(x) flipped back to x's coordinates, each (B, L, d).
        The strands run one after the other (not as a 2B batch) to halve peak memory at long lengths."""
        h_fwd = self.backbone(input_ids, seq_idx)
        h_rev = self.backbone(rc_ids(input_ids, self.complement), flip_seq_idx(seq_idx))
        return h_fwd, h_rev.flip(1)

    def _context(self, input_ids, seq_idx):
        h_fwd, h_rev = self._streams(input_ids, seq_idx)
        return self.fusion_head.context(h_fwd, h_rev, seq_idx)

    def _logits(self, input_ids, seq_idx) -> torch.Tensor:
        weight = self.backbone.embedding_weight
        if self.fusion_head is not None:
            h_fwd, h_rev = self._streams(input_ids, seq_idx)
            ckpt = torch.is_grad_enabled() and self.config.checkpoint_batch(input_ids.numel())
            return self.fusion_head(h_fwd, h_rev, seq_idx, weight, checkpointing=ckpt)
        hidden = self.backbone(input_ids, seq_idx)
        if self.config.rc == "ps":
            return rcps_lm_logits(hidden, weight, self.complement)
        return F.linear(hidden, weight)

    def _hidden(self, input_ids, seq_idx) -> torch.Tensor:
        if self.fusion_head is not None:
            h_fwd, h_rev = self._streams(input_ids, seq_idx)
            # [x[<=p] | x[>=p] with channels reversed]: the RC of the input is rc_hidden of this, as for "ps"
            return torch.cat([h_fwd, h_rev.flip(-1)], dim=-1)
        return self.backbone(input_ids, seq_idx)


def nucleotide_log_probs(
    model: GenomambaModel, input_ids: torch.Tensor, seq_idx: torch.Tensor | None = None
) -> torch.Tensor:
    """(B, L) ids -> (B, L, 4) log-probabilities of A, C, G, T at every position (renormalised over ACGT).

    fusion "head": one pass gives log p(x[p] = b | x[<p], x[>p]) for every p. fusion "layer": position p sees
    x[p], so the caller replaces the scored positions with [MASK] first.
    """
    logits = model(input_ids, seq_idx)
    return torch.log_softmax(logits[..., :4].float(), dim=-1)


__all__ = ["GenomambaModel", "nucleotide_log_probs", "rc_hidden"]
