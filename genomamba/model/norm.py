"""RMSNorm computed in fp32 (the residual stream is fp32; the output takes the input's dtype)."""

from __future__ import annotations

import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """x: (..., dim) -> (..., dim). ``weight`` overrides the gain (RC-PS passes it flipped)."""
        w = self.weight if weight is None else weight
        xf = x.float()
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps) * w.float()
        return y.to(x.dtype)
