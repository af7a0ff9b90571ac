"""Per-token features of any checkpoint at any layer, on one strand, averaged over both, or concatenated.

Layer ``k`` (``-1`` = the last) is the hidden state after block ``k``: ``0`` is the embedding, ``1..n_layer-1`` the
residual stream after that block, ``n_layer`` the final-norm output that heads read (``hidden_states``). For fusion
"head" models a layer's features are, as for the last one, both strands' streams side by side
(``[x[<=p] | x[>=p] with channels reversed]``), so every layer keeps the model's RC structure.

Strands, all in the input's coordinates (position p of x):

* ``forward``: features of x.
* ``average``: mean of the features of x and of rc(x) mirrored back onto x -- reverse-complement invariant. Exact
  shortcuts avoid the second pass: RC-equivariant models (fusion "head", rc "ps") give
  ``features(rc x)[L-1-p] == features(x)[p]`` with channels reversed, and rc "posthoc" models already average the
  strands inside ``hidden_states``.
* ``concat``: ``[features(x) | mirrored features(rc x)]`` (twice the width).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from genomamba.alphabet import PAD
from genomamba.errors import GenomambaError
from genomamba.infer.config import POOLINGS, STRANDS
from genomamba.model.heads import pool
from genomamba.model.rc import rc_ids


def layer_index(n_layer: int, layer: int) -> int:
    """``layer`` (negative counts from the end, -1 = n_layer) -> 0..n_layer; GenomambaError outside."""
    n = n_layer
    k = n + 1 + layer if layer < 0 else layer
    if not 0 <= k <= n:
        raise GenomambaError(f"layer {layer} is outside the model's 0..{n} (or -{n + 1}..-1)")
    return k


@contextlib.contextmanager
def at_layer(model, layer: int):
    """Inside the block, ``model.hidden_states`` returns the hidden state after block ``layer`` (see the module
    docstring). The backbone's block list is cut for the duration (no weights change, nothing else is touched)."""
    k = layer_index(model.config.n_layer, layer)
    backbone = model.backbone
    if k == model.config.n_layer:
        yield
        return
    blocks, norm = backbone.layers, backbone.norm_f
    backbone.layers, backbone.norm_f = nn.ModuleList(list(blocks)[:k]), nn.Identity()
    try:
        yield
    finally:
        backbone.layers, backbone.norm_f = blocks, norm


def feature_width(model, strands: str) -> int:
    return model.config.hidden_size * (2 if strands == "concat" else 1)


def token_features(model, ids: torch.Tensor, layer: int = -1, strands: str = "forward") -> torch.Tensor:
    """ids (B, L) int64 on the model's device ([PAD] on the right) -> fp32 features (B, L, C) in x's coordinates."""
    if strands not in STRANDS:
        raise GenomambaError(f"unknown strands {strands!r}; choose {'|'.join(STRANDS)}")
    with at_layer(model, layer):
        h = model.hidden_states(ids)
        if strands == "forward":
            return h
        cfg = model.config
        if cfg.rc_equivariant:
            r = h.flip(-1)
        elif cfg.rc == "posthoc":
            r = h
        else:
            r = model.hidden_states(rc_ids(ids, model.complement)).flip(1)
    return 0.5 * (h + r) if strands == "average" else torch.cat([h, r], dim=-1)


def pooled_features(
    model, ids: torch.Tensor, layer: int = -1, strands: str = "forward", pooling: str = "mean"
) -> torch.Tensor:
    """(B, L) ids -> (B, C) pooled over the real bases ("mean" | "center"), or (B, L, C) for pooling "none"."""
    if pooling not in POOLINGS:
        raise GenomambaError(f"unknown pooling {pooling!r}; choose {'|'.join(POOLINGS)}")
    feats = token_features(model, ids, layer, strands)
    if pooling == "none":
        return feats
    return pool(feats, ids != PAD, pooling)
