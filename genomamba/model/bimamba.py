"""BiMamba (as Caduceus): a forward mixer plus a mixer over the flipped sequence, combined by add or multiply.

The reverse mixer runs with ``reverse=True`` (reversed conv taps, reverse scan) instead of flipping copies;
with ``bidirectional_weight_tie`` both directions share in_proj and out_proj, where most parameters are.
The same wrapper makes Mamba-2 (SSD) layers bidirectional: ``mixer_cls`` is any mixer taking
``(config, in_proj=, out_proj=)`` and ``forward(hidden, seq_idx, reverse=)``.
"""

from __future__ import annotations

import torch
from torch import nn

from genomamba.model.config import ModelConfig
from genomamba.model.mixer import MambaMixer


class BiMambaMixer(nn.Module):
    def __init__(self, config: ModelConfig, mixer_cls: type[nn.Module] = MambaMixer):
        super().__init__()
        self.strategy = config.bidirectional_strategy
        self.mixer_fwd = mixer_cls(config)
        if config.bidirectional_weight_tie:
            self.mixer_rev = mixer_cls(config, in_proj=self.mixer_fwd.in_proj, out_proj=self.mixer_fwd.out_proj)
        else:
            self.mixer_rev = mixer_cls(config)

    def forward(self, hidden: torch.Tensor, seq_idx: torch.Tensor | None = None) -> torch.Tensor:
        """hidden: (B, L, d_model) -> (B, L, d_model)."""
        out_fwd = self.mixer_fwd(hidden, seq_idx)
        out_rev = self.mixer_rev(hidden, seq_idx, reverse=True)
        if self.strategy == "add":
            return out_fwd + out_rev
        return out_fwd * out_rev  # "ew_multiply"
