"""Padding and packing invariance: a sequence's outputs do not depend on what surrounds it."""

from __future__ import annotations

import torch

from genomamba.alphabet import PAD

from .conftest import random_ids, tiny_model

TOL = dict(rtol=1e-5, atol=1e-5)


def test_padding_on_both_sides_changes_nothing(design):
    fusion, rc = design
    model = tiny_model(fusion=fusion, rc=rc)
    seq = random_ids(1, 17)
    padded = torch.cat([torch.full((1, 3), PAD), seq, torch.full((1, 6), PAD)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model(padded)[:, 3:-6], model(seq), **TOL)
        torch.testing.assert_close(model.hidden_states(padded)[:, 3:-6], model.hidden_states(seq), **TOL)


def test_batch_of_different_lengths(design):
    fusion, rc = design
    model = tiny_model(fusion=fusion, rc=rc)
    a, b = random_ids(1, 20, seed=3), random_ids(1, 11, seed=4)
    batch = torch.cat([a, torch.cat([b, torch.full((1, 9), PAD)], dim=1)], dim=0)
    with torch.no_grad():
        out = model(batch)
        torch.testing.assert_close(out[:1], model(a), **TOL)
        torch.testing.assert_close(out[1:, :11], model(b), **TOL)


def test_packed_sequences_do_not_leak(design):
    fusion, rc = design
    model = tiny_model(fusion=fusion, rc=rc)
    a, b, c = random_ids(1, 9, seed=5), random_ids(1, 14, seed=6), random_ids(1, 6, seed=7)
    packed = torch.cat([a, b, c], dim=1)
    seq_idx = torch.cat([torch.full((1, 9), 0), torch.full((1, 14), 1), torch.full((1, 6), 2)], dim=1)
    with torch.no_grad():
        out = model(packed, seq_idx)
        torch.testing.assert_close(out[:, :9], model(a), **TOL)
        torch.testing.assert_close(out[:, 9:23], model(b), **TOL)
        torch.testing.assert_close(out[:, 23:], model(c), **TOL)
        # and packing is not a no-op: without seq_idx the middle sequence does see its neighbours
        assert (model(packed)[:, 9:23] - out[:, 9:23]).abs().max() > 1e-4
