"""RMSNorm computed in fp32 (the residual stream is fp32; the output takes the input's dtype).

On the backends that run the C++ scan (``cpu``, and ``auto`` on CPU tensors), fp32 inputs go through the fused
C++ kernel (``genomamba_kernels.cpu_norm``: one pass forward, one backward); the ``ref`` backend keeps PyTorch
ops throughout (no compiler needed). ``GenomambaModel.set_backend`` updates ``backend`` here too."""

from __future__ import annotations

import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5, backend: str = "auto"):
        super().__init__()
        self.eps = eps
        self.backend = backend
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """x: (..., dim) -> (..., dim). ``weight`` overrides the gain (RC-PS passes it flipped)."""
        w = self.weight if weight is None else weight
        fused = self.backend in ("auto", "cpu") and x.device.type == "cpu"
        if fused and x.dtype == torch.float32 and w.dtype == torch.float32:
            from genomamba_kernels.cpu_norm import rms_norm_cpu

            return rms_norm_cpu(x, w, self.eps)
        xf = x.float()
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps) * w.float()
        return y.to(x.dtype)
