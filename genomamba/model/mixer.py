"""Mamba (v1) mixer: in_proj -> depthwise causal conv1d -> x_proj -> dt_proj -> selective scan -> silu(z) gate
-> out_proj, with Mamba's initialisation. The scan comes only from ``genomamba.ops.selective_scan``.

``reverse=True`` runs the same mixer right-to-left (reversed conv taps and a reverse scan): it equals
``mixer(h.flip(1)).flip(1)`` without copying the sequence.

With ``cpu_autocast`` resolved to bf16 (``ModelConfig.cpu_bf16``), the four projections run as bf16 matmuls on
CPU tensors (fp32 accumulation inside the matmul); their outputs go back to fp32 before the conv, the scan (fp32
state and sums) and the residual stream.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genomamba.model.config import ModelConfig
from genomamba.model.conv import conv_silu
from genomamba.ops import selective_scan


def project(layer, x: torch.Tensor, bf16: bool) -> torch.Tensor:
    """``layer(x)`` (an nn.Linear or any linear callable); with ``bf16`` (CPU tensors only) it runs under CPU
    bf16 autocast and the result comes back as fp32."""
    if not bf16:
        return layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(x)
    return out.float()


class MambaMixer(nn.Module):
    def __init__(self, config: ModelConfig, in_proj: nn.Linear | None = None, out_proj: nn.Linear | None = None):
        """``in_proj``/``out_proj`` may be shared with another mixer (BiMamba weight tying)."""
        super().__init__()
        d_model, d_inner, d_state = config.d_model, config.d_inner, config.d_state
        self.d_inner, self.d_state, self.dt_rank = d_inner, d_state, config.dt_rank_value
        self.backend = config.backend
        self.cpu_bf16 = config.cpu_bf16  # bf16 projections on CPU tensors
        self.in_proj = in_proj if in_proj is not None else nn.Linear(d_model, 2 * d_inner, bias=config.bias)
        # depthwise conv taps (d_inner, d_conv), applied by causal_conv1d (handles boundaries and direction)
        self.conv_weight = nn.Parameter(torch.empty(d_inner, config.d_conv))
        self.conv_bias = nn.Parameter(torch.zeros(d_inner)) if config.conv_bias else None
        self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, d_inner, bias=True)
        # S4D-real: A[d, n] = -(n + 1); kept as log in fp32 and never weight-decayed
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.A_log._no_weight_decay = True
        self.D = nn.Parameter(torch.ones(d_inner))
        self.D._no_weight_decay = True
        self.out_proj = out_proj if out_proj is not None else nn.Linear(d_inner, d_model, bias=config.bias)
        self._init_weights(config, init_projections=in_proj is None)

    @torch.no_grad()
    def _init_weights(self, config: ModelConfig, init_projections: bool) -> None:
        # conv: PyTorch's Conv1d default (kaiming uniform over fan_in = d_conv for a depthwise conv)
        bound = 1.0 / math.sqrt(config.d_conv)
        self.conv_weight.uniform_(-bound, bound)
        if self.conv_bias is not None:
            self.conv_bias.uniform_(-bound, bound)
        # dt_proj weight keeps the variance of dt independent of dt_rank
        std = self.dt_rank**-0.5 * config.dt_scale
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        # dt bias: softplus(bias) = dt with log(dt) ~ U[log dt_min, log dt_max]; bias = inverse softplus(dt)
        log_dt = torch.rand(self.d_inner) * (math.log(config.dt_max) - math.log(config.dt_min))
        dt = torch.exp(log_dt + math.log(config.dt_min)).clamp(min=config.dt_init_floor)
        self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.dt_proj.bias._no_reinit = True
        if init_projections:
            if self.in_proj.bias is not None:
                self.in_proj.bias.zero_()
            if self.out_proj.bias is not None:
                self.out_proj.bias.zero_()
            if config.rescale_prenorm_residual:
                # GPT-2 scheme: residual-branch outputs shrink with depth (1/sqrt(n_layer))
                nn.init.kaiming_uniform_(self.out_proj.weight, a=math.sqrt(5))
                self.out_proj.weight /= math.sqrt(config.n_layer)

    def forward(self, hidden: torch.Tensor, seq_idx: torch.Tensor | None = None, reverse: bool = False) -> torch.Tensor:
        """hidden: (B, L, d_model); seq_idx: (B, L) or None. Returns (B, L, d_model)."""
        bf16 = self.cpu_bf16 and hidden.device.type == "cpu"
        xz = project(self.in_proj, hidden, bf16)  # (B, L, 2 * d_inner)
        # x = silu(conv(first half)) new (B, L, d_inner); z: view of the second half. The C++ conv serves the
        # backends that run the C++ scan (cpu, and auto on CPU tensors)
        fused = self.backend in ("auto", "cpu")
        x, z = conv_silu(xz, self.conv_weight, self.conv_bias, seq_idx=seq_idx, reverse=reverse, fused=fused)
        x_dbl = project(self.x_proj, x, bf16)  # (B, L, dt_rank + 2 * d_state)
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        # (B, L, d_inner); the bias goes to the op (added in fp32 inside the scan)
        delta = project(lambda t: F.linear(t, self.dt_proj.weight), dt, bf16)
        # the op takes (batch, channels, length) views of these channels-last tensors: no copies
        y = selective_scan(
            x.transpose(1, 2),
            delta.transpose(1, 2),
            -torch.exp(self.A_log.float()),  # (d_inner, d_state)
            B.transpose(1, 2),  # (B, d_state, L)
            C.transpose(1, 2),
            D=self.D.float(),
            z=z.transpose(1, 2),
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
            reverse=reverse,
            seq_idx=seq_idx,
            backend=self.backend,
        )  # (B, d_inner, L), already gated by silu(z)
        return project(self.out_proj, y.transpose(1, 2), bf16)
