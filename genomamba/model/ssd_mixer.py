"""Mamba-2 mixer (Dao & Gu 2024): in_proj -> depthwise causal conv1d over (x, B, C) -> SSD scan with one decay
per head -> gated RMSNorm (or the silu(z) gate) -> out_proj. The scan comes only from ``genomamba.ops.ssd``.

Compared with the Mamba-1 mixer, B, C and dt come straight out of in_proj (no x_proj / dt_proj), A is a scalar per
head, and heads of ``ssd_headdim`` channels share B/C within ``ssd_ngroups`` groups, so the state can be 64-128
wide at the cost of matrix products rather than per-state exps.

``reverse=True`` runs the same mixer right-to-left (reversed conv taps and a reverse scan): it equals
``mixer(h.flip(1)).flip(1)`` without copying the sequence.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genomamba.model.config import ModelConfig
from genomamba.model.conv import conv_silu
from genomamba.ops import ssd

# positions of the sequence normalised (and differentiated) at a time: bounds the fp32 temporaries of the gated
# norm to chunk x dim floats each, whatever the length
NORM_CHUNK = 16384


def gated_rmsnorm_ref(y: torch.Tensor, z: torch.Tensor, weight: torch.Tensor, groups: int, eps: float) -> torch.Tensor:
    """Reference: RMSNorm(y * silu(z)) over ``groups`` groups of channels, fp32 inside, in y's dtype. Plain autograd
    keeps four (B, L, dim) temporaries per call; ``gated_rmsnorm`` keeps none."""
    g = (y.float() * F.silu(z.float())).unflatten(-1, (groups, -1))
    g = g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + eps)
    return (g.flatten(-2) * weight.float()).to(y.dtype)


class _GatedRMSNorm(torch.autograd.Function):
    """Saves y, z (alive anyway: the scan's output and a view of in_proj's) and one rstd per (position, group);
    forward and backward run over NORM_CHUNK positions at a time."""

    @staticmethod
    def forward(ctx, y, z, weight, groups: int, eps: float, chunk: int):
        ct = torch.promote_types(y.dtype, torch.float32)  # fp32 inside (fp64 stays fp64, for gradcheck)
        out = torch.empty(y.shape, dtype=y.dtype, device=y.device)
        rstd = torch.empty(*y.shape[:-1], groups, dtype=ct, device=y.device)
        w = weight.to(ct)
        for a in range(0, y.shape[1], chunk):
            g = (y[:, a : a + chunk].to(ct) * F.silu(z[:, a : a + chunk].to(ct))).unflatten(-1, (groups, -1))
            r = torch.rsqrt(g.pow(2).mean(-1) + eps)  # (B, c, groups)
            rstd[:, a : a + chunk] = r
            out[:, a : a + chunk] = ((g * r[..., None]).flatten(-2) * w).to(y.dtype)
        ctx.save_for_backward(y, z, weight, rstd)
        ctx.shape = (groups, chunk)
        return out

    @staticmethod
    def backward(ctx, dout):
        # n = g r, r = (mean g^2 + eps)^-1/2: dg = r (dn - n mean(dn n)) per group, dn = dout w, then through g = y s(z)
        y, z, weight, rstd = ctx.saved_tensors
        groups, chunk = ctx.shape
        dy, dz = torch.empty_like(y), torch.empty(z.shape, dtype=z.dtype, device=z.device)
        ct = rstd.dtype
        dw = torch.zeros(weight.shape[-1], dtype=ct, device=y.device)
        w = weight.to(ct).unflatten(-1, (groups, -1))
        for a in range(0, y.shape[1], chunk):
            yf, zf = y[:, a : a + chunk].to(ct), z[:, a : a + chunk].to(ct)
            sig = torch.sigmoid(zf)
            act = zf * sig  # silu(z)
            r = rstd[:, a : a + chunk, :, None]
            n = (yf * act).unflatten(-1, (groups, -1)) * r
            do = dout[:, a : a + chunk].to(ct).unflatten(-1, (groups, -1))
            dw += (do * n).sum((0, 1)).flatten()
            dn = do * w
            dg = (r * (dn - n * (dn * n).mean(-1, keepdim=True))).flatten(-2)
            dy[:, a : a + chunk] = dg * act
            dz[:, a : a + chunk] = dg * yf * sig * (1 + zf * (1 - sig))
        return dy, dz, dw.to(weight.dtype), None, None, None


def gated_rmsnorm(y, z, weight, groups: int, eps: float, chunk: int = NORM_CHUNK) -> torch.Tensor:
    """RMSNorm(y * silu(z)) (as ``gated_rmsnorm_ref``): y, z (B, L, dim), z any strides; weight (dim,)."""
    return _GatedRMSNorm.apply(y, z, weight, int(groups), float(eps), int(chunk))


class GatedRMSNorm(nn.Module):
    """RMSNorm(y * silu(z)) over groups of channels (one group per B/C group, as Mamba-2), fp32 inside."""

    def __init__(self, dim: int, groups: int, eps: float):
        super().__init__()
        self.groups, self.eps = groups, eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """y, z: (B, L, dim) -> (B, L, dim) in y's dtype."""
        return gated_rmsnorm(y, z, self.weight, self.groups, self.eps)


class Mamba2Mixer(nn.Module):
    def __init__(self, config: ModelConfig, in_proj: nn.Linear | None = None, out_proj: nn.Linear | None = None):
        """``in_proj``/``out_proj`` may be shared with another mixer (BiMamba weight tying)."""
        super().__init__()
        d_model, d_inner = config.d_model, config.d_inner
        self.d_inner, self.d_state = d_inner, config.ssd_d_state
        self.nheads, self.headdim, self.ngroups = config.ssd_heads, config.ssd_headdim, config.ssd_ngroups
        self.chunk_size, self.matmul_bf16 = config.ssd_chunk_size, config.ssd_matmul_bf16
        self.backend = config.backend
        bc = self.ngroups * self.d_state
        self.conv_dim = d_inner + 2 * bc  # the conv runs over x, B and C together
        # in_proj output: [z (d_inner) | x (d_inner) | B (bc) | C (bc) | dt (nheads)]
        n_in = 2 * d_inner + 2 * bc + self.nheads
        self.in_proj = in_proj if in_proj is not None else nn.Linear(d_model, n_in, bias=config.bias)
        self.conv_weight = nn.Parameter(torch.empty(self.conv_dim, config.d_conv))
        self.conv_bias = nn.Parameter(torch.zeros(self.conv_dim)) if config.conv_bias else None
        # A = -exp(A_log) per head, A in [1, 16] at init; kept in fp32, never weight-decayed
        self.A_log = nn.Parameter(torch.empty(self.nheads))
        self.A_log._no_weight_decay = True
        self.dt_bias = nn.Parameter(torch.empty(self.nheads))
        self.dt_bias._no_weight_decay = True
        self.D = nn.Parameter(torch.ones(self.nheads))
        self.D._no_weight_decay = True
        self.norm = GatedRMSNorm(d_inner, self.ngroups, config.norm_epsilon) if config.ssd_gated_norm else None
        self.out_proj = out_proj if out_proj is not None else nn.Linear(d_inner, d_model, bias=config.bias)
        self._init_weights(config, init_projections=in_proj is None)

    @torch.no_grad()
    def _init_weights(self, config: ModelConfig, init_projections: bool) -> None:
        bound = 1.0 / math.sqrt(config.d_conv)  # PyTorch's Conv1d default for a depthwise conv
        self.conv_weight.uniform_(-bound, bound)
        if self.conv_bias is not None:
            self.conv_bias.uniform_(-bound, bound)
        self.A_log.copy_(torch.log(torch.empty(self.nheads).uniform_(1.0, 16.0)))
        # dt bias: softplus(bias) = dt with log(dt) ~ U[log dt_min, log dt_max]; bias = inverse softplus(dt)
        log_dt = torch.rand(self.nheads) * (math.log(config.dt_max) - math.log(config.dt_min))
        dt = torch.exp(log_dt + math.log(config.dt_min)).clamp(min=config.dt_init_floor)
        self.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.dt_bias._no_reinit = True
        if init_projections:
            for lin in (self.in_proj, self.out_proj):
                if lin.bias is not None:
                    lin.bias.zero_()
            if config.rescale_prenorm_residual:
                # GPT-2 scheme: residual-branch outputs shrink with depth (1/sqrt(n_layer))
                nn.init.kaiming_uniform_(self.out_proj.weight, a=math.sqrt(5))
                self.out_proj.weight /= math.sqrt(config.n_layer)

    def forward(self, hidden: torch.Tensor, seq_idx: torch.Tensor | None = None, reverse: bool = False) -> torch.Tensor:
        """hidden: (B, L, d_model); seq_idx: (B, L) or None. Returns (B, L, d_model)."""
        proj = self.in_proj(hidden)  # (B, L, d_inner + conv_dim + nheads): [z | x B C | dt]
        z = proj[..., : self.d_inner]
        # xBC = silu(conv(x B C)) new (B, L, conv_dim); dt a view. The C++ conv (fp32 CPU, auto/cpu backends) saves
        # only its input, where conv + silu in PyTorch ops keep two (B, L, conv_dim) tensors for backward
        fused = self.backend in ("auto", "cpu")
        xBC, dt = conv_silu(proj[..., self.d_inner :], self.conv_weight, self.conv_bias, seq_idx, reverse, fused)
        x, B, C = torch.split(xBC, [self.d_inner, self.ngroups * self.d_state, self.ngroups * self.d_state], dim=-1)
        # (B, L, heads, headdim) and (B, L, groups, state) views of the conv output: no copies
        y = ssd(
            x.unflatten(-1, (self.nheads, self.headdim)),
            dt,
            -torch.exp(self.A_log.float()),
            B.unflatten(-1, (self.ngroups, self.d_state)),
            C.unflatten(-1, (self.ngroups, self.d_state)),
            D=self.D.float(),
            z=None if self.norm is not None else z.unflatten(-1, (self.nheads, self.headdim)),
            dt_bias=self.dt_bias.float(),
            dt_softplus=True,
            chunk_size=self.chunk_size,
            reverse=reverse,
            seq_idx=seq_idx,
            matmul_bf16=self.matmul_bf16,
            backend=self.backend,
        ).flatten(-2)  # (B, L, d_inner)
        if self.norm is not None:
            y = self.norm(y, z)
        return self.out_proj(y)
