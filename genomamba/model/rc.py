"""Reverse-complement parameter sharing (RC-PS, Zhou et al. 2022; Caduceus-PS): exact RC equivariance.

The hidden stream has 2 * d_model channels: [forward-strand half | reverse-strand half]. Its reverse
complement is ``rc_hidden(h) = h.flip(length, channels)``, so every module below satisfies
``module(rc(x)) == rc(module(x))`` by construction: the same weights process the forward half and the
reverse-complemented reverse half.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genomamba.alphabet import COMPLEMENT
from genomamba.model.norm import RMSNorm


def complement_table(padded_vocab_size: int) -> torch.Tensor:
    """(V,) int64 complement of every token id; ids beyond the tokenizer (vocab padding) map to themselves."""
    table = list(COMPLEMENT) + list(range(len(COMPLEMENT), padded_vocab_size))
    return torch.tensor(table, dtype=torch.int64)


def rc_ids(input_ids: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """(B, L) token ids -> their reverse complement (B, L)."""
    return table.to(input_ids.device)[input_ids].flip(-1)


def rc_hidden(hidden: torch.Tensor) -> torch.Tensor:
    """(B, L, C) -> (B, L, C) flipped along length and channels (the RC of an RC-PS hidden stream)."""
    return hidden.flip(-2, -1)


def rc_logits(logits: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """(B, L, V) token logits -> logits of the reverse-complement sequence (flip length, permute vocab)."""
    return logits.flip(-2)[..., table[: logits.shape[-1]].to(logits.device)]


def flip_seq_idx(seq_idx: torch.Tensor | None) -> torch.Tensor | None:
    return None if seq_idx is None else seq_idx.flip(-1)


class RCPSEmbedding(nn.Module):
    """ids (B, L) -> (B, L, 2d): [embed(x) | rc_hidden(embed(rc(x)))]."""

    def __init__(self, embedding: nn.Embedding, complement: torch.Tensor):
        super().__init__()
        self.embedding = embedding
        self.register_buffer("complement", complement, persistent=False)

    @property
    def weight(self) -> torch.Tensor:
        return self.embedding.weight

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        fwd = self.embedding(input_ids)
        rev = self.embedding(rc_ids(input_ids, self.complement))
        return torch.cat([fwd, rc_hidden(rev)], dim=-1)


class RCPSMixer(nn.Module):
    """Lift a sequence module (B, L, d) -> (B, L, d) to the RC-PS stream (B, L, 2d), sharing its weights.

    Both halves run as one batch of 2B: the forward half as is, the reverse half reverse-complemented
    (with its ``seq_idx`` flipped), so the module always reads a strand 5'->3'.
    """

    def __init__(self, mixer: nn.Module):
        super().__init__()
        self.mixer = mixer

    def forward(self, hidden: torch.Tensor, seq_idx: torch.Tensor | None = None) -> torch.Tensor:
        fwd, rev = hidden.chunk(2, dim=-1)
        both = torch.cat([fwd, rc_hidden(rev)], dim=0)  # (2B, L, d)
        seq = None if seq_idx is None else torch.cat([seq_idx, seq_idx.flip(-1)], dim=0)
        out_fwd, out_rev = self.mixer(both, seq).chunk(2, dim=0)
        return torch.cat([out_fwd, rc_hidden(out_rev)], dim=-1)


class RCPSNorm(nn.Module):
    """One RMSNorm shared by both halves; the reverse half (channels reversed) uses the gain flipped."""

    def __init__(self, norm: RMSNorm):
        super().__init__()
        self.norm = norm

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        fwd, rev = hidden.chunk(2, dim=-1)
        return torch.cat([self.norm(fwd), self.norm(rev, weight=self.norm.weight.flip(0))], dim=-1)


def rcps_lm_logits(hidden: torch.Tensor, weight: torch.Tensor, complement: torch.Tensor) -> torch.Tensor:
    """hidden (B, L, 2d), tied embedding weight (V, d) -> logits (B, L, V), RC-equivariant:
    the forward half scores tokens, the reverse half (channels restored) scores their complements."""
    fwd, rev = hidden.chunk(2, dim=-1)
    return F.linear(fwd, weight) + F.linear(rev.flip(-1), weight[complement.to(weight.device)])
