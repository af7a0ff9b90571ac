"""Downstream heads on top of ``GenomambaModel.hidden_states``: sequence classification/regression (pooling
mean | center, padding-aware) and per-position outputs, optionally averaged over both strands.

``GenomambaForSequence`` (backbone + head) saves and loads as a checkpoint of kind "sequence" or "position";
its weights are ``model.*`` (the backbone, loadable alone by ``GenomambaModel.from_pretrained``) and
``head.*``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from genomamba.alphabet import PAD
from genomamba.config import from_dict
from genomamba.errors import GenomambaError
from genomamba.model.model import GenomambaModel
from genomamba.model.rc import rc_ids


@dataclass
class HeadConfig:
    kind: Literal["sequence", "position"] = "sequence"
    n_outputs: int = 2  # classes (classification) or targets (regression)
    task: Literal["classification", "regression"] = "classification"
    pooling: Literal["mean", "center"] = "mean"  # sequence heads: mean over real bases, or the central base
    strands: Literal["forward", "both"] = "both"  # "both": average features of x and rc(x)
    dropout: float = 0.0
    labels: list[str] = field(default_factory=list)  # optional class / target names, kept in the checkpoint

    def __post_init__(self) -> None:
        if self.n_outputs < 1:
            raise ValueError(f"n_outputs must be >= 1, got {self.n_outputs}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.labels and len(self.labels) != self.n_outputs:
            raise ValueError(f"{len(self.labels)} labels for n_outputs={self.n_outputs}")


def pool(hidden: torch.Tensor, valid: torch.Tensor, pooling: str) -> torch.Tensor:
    """hidden (B, L, H), valid (B, L) bool (real bases) -> (B, H). "mean": mean over valid positions;
    "center": the middle valid position (first + (n - 1) // 2), for rows padded on either side."""
    counts = valid.sum(dim=1)  # (B,)
    if bool((counts == 0).any()):
        raise GenomambaError("a sequence consists only of [PAD] tokens; nothing to pool")
    if pooling == "mean":
        w = valid.to(hidden.dtype).unsqueeze(-1)
        return (hidden * w).sum(dim=1) / counts.to(hidden.dtype).unsqueeze(-1)
    if pooling == "center":
        first = valid.to(torch.int64).argmax(dim=1)  # first True
        index = first + (counts - 1) // 2  # (B,)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), index]
    raise GenomambaError(f"unknown pooling {pooling!r}; choose mean|center")


class SequenceHead(nn.Module):
    """(B, L, H) hidden + (B, L) valid mask -> (B, n_outputs)."""

    def __init__(self, hidden_size: int, config: HeadConfig):
        super().__init__()
        self.pooling = config.pooling
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(hidden_size, config.n_outputs)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """features: (B, H) pooled -> (B, n_outputs)."""
        return self.out(self.dropout(features))


class PositionHead(nn.Module):
    """(B, L, H) -> (B, L, n_outputs)."""

    def __init__(self, hidden_size: int, config: HeadConfig):
        super().__init__()
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(hidden_size, config.n_outputs)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(features))


class GenomambaForSequence(nn.Module):
    """Backbone + sequence or per-position head. Rows are single sequences, padded with [PAD] (id 5)."""

    def __init__(self, model: GenomambaModel, head_config: HeadConfig):
        super().__init__()
        self.model = model
        self.head_config = head_config
        head_cls = SequenceHead if head_config.kind == "sequence" else PositionHead
        self.head = head_cls(model.hidden_size, head_config)

    @property
    def config(self):
        return self.model.config

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, L) ids -> features: (B, H) pooled for a sequence head, (B, L, H) for a position head; with
        strands "both" averaged with the features of the reverse complement (mirrored back onto x)."""
        valid = input_ids != PAD
        kind, pooling = self.head_config.kind, self.head_config.pooling
        hidden = self.model.hidden_states(input_ids)
        feats = pool(hidden, valid, pooling) if kind == "sequence" else hidden
        if self.head_config.strands == "both":
            rc_hidden_states = self.model.hidden_states(rc_ids(input_ids, self.model.complement))
            if kind == "sequence":
                rc_feats = pool(rc_hidden_states, valid.flip(1), pooling)
            else:
                rc_feats = rc_hidden_states.flip(1)
            feats = 0.5 * (feats + rc_feats)
        return feats

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, L) ids -> (B, n_outputs) for kind "sequence", (B, L, n_outputs) for kind "position"."""
        return self.head(self.embed(input_ids))

    @classmethod
    def from_backbone(
        cls,
        backbone: GenomambaModel | str | os.PathLike,
        head_config: HeadConfig,
        map_location: str | torch.device = "cpu",
        backend: str | None = None,
    ) -> GenomambaForSequence:
        """A fresh head on a pretrained backbone (a model or a checkpoint path), in train mode."""
        if not isinstance(backbone, GenomambaModel):
            backbone = GenomambaModel.from_pretrained(backbone, map_location=map_location, backend=backend)
        return cls(backbone, head_config).to(map_location).train()

    def save_pretrained(self, path: str | os.PathLike, extra: dict | None = None):
        from genomamba.model.checkpoint import save_checkpoint

        return save_checkpoint(
            path,
            self,
            self.model.config,
            kind=self.head_config.kind,
            head_config=self.head_config,
            extra=extra,
        )

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, map_location: str | torch.device = "cpu", backend: str | None = None
    ) -> GenomambaForSequence:
        from genomamba.model.checkpoint import load_weights, read_meta

        meta = read_meta(path)
        if meta.get("kind") not in ("sequence", "position") or not isinstance(meta.get("head"), dict):
            raise GenomambaError(
                f"checkpoint kind {meta.get('kind')!r} has no head; load it with GenomambaModel.from_pretrained",
                path,
            )
        config = meta["model_config"]
        if backend is not None:
            config.backend = backend
        head_config = from_dict(HeadConfig, meta["head"], path=os.path.join(path, "config.json"))
        wrapper = cls(GenomambaModel(config), head_config)
        load_weights(path, wrapper)
        wrapper.extra = meta.get("extra", {})
        return wrapper.to(map_location).eval()


def load_pretrained(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", backend: str | None = None
) -> GenomambaModel | GenomambaForSequence:
    """Load any genomamba checkpoint: an LM (``GenomambaModel``) or a fine-tuned model with its head."""
    from genomamba.model.checkpoint import read_meta

    kind = read_meta(path).get("kind", "lm")
    if kind == "lm":
        return GenomambaModel.from_pretrained(path, map_location=map_location, backend=backend)
    return GenomambaForSequence.from_pretrained(path, map_location=map_location, backend=backend)


def load_for_inference(path, device: str = "auto", backend: str | None = None):
    """Any checkpoint (LM or fine-tuned) on the resolved ``device`` in eval mode -> (model, device string)."""
    from genomamba.devices import resolve_backend_for, resolve_device
    from genomamba.model.checkpoint import read_meta

    stored = read_meta(path)["model_config"].backend  # an unusable checkpoint fails before anything is logged
    resolved = resolve_device(device)
    chosen = resolve_backend_for(resolved, backend, stored)
    return load_pretrained(path, map_location=resolved, backend=chosen), resolved
