"""Features at any layer and strand policy: the one-pass strand shortcuts equal the explicit two-pass mean, layers
cut the backbone without changing it, and pooling ignores padding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genomamba.alphabet import encode
from genomamba.errors import GenomambaError
from genomamba.infer.features import at_layer, pooled_features, token_features
from genomamba.model.batching import pad_batch
from genomamba.model.rc import rc_ids
from tests.inference.conftest import random_seq, tiny_model


def _ids(*lengths: int) -> torch.Tensor:
    return pad_batch([encode(random_seq(n, 40 + n)) for n in lengths])


def _two_pass(model, ids, layer):
    """Reference: features of x and of rc(x) mirrored back, explicitly."""
    with at_layer(model, layer):
        fwd = model.hidden_states(ids)
        rev = model.hidden_states(rc_ids(ids, model.complement)).flip(1)
    return fwd, rev


@pytest.mark.parametrize("design", ["head", "ps", "posthoc", "layer"])
@pytest.mark.parametrize("layer", [0, 1, -1])
def test_strand_average_equals_two_passes(design, layer):
    model = tiny_model(design)
    ids = _ids(50)
    fwd, rev = _two_pass(model, ids, layer)
    with torch.inference_mode():
        avg = token_features(model, ids, layer, "average")
        cat = token_features(model, ids, layer, "concat")
    torch.testing.assert_close(avg, 0.5 * (fwd + rev), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cat, torch.cat([fwd, rev], -1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("design", ["head", "layer"])
def test_average_is_reverse_complement_invariant(design):
    model = tiny_model(design)
    ids = _ids(40)
    with torch.inference_mode():
        a = token_features(model, ids, -1, "average")
        b = token_features(model, rc_ids(ids, model.complement), -1, "average").flip(1)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(token_features(model, ids, -1, "forward"), a)  # averaging did something


def test_layers_cut_the_backbone_and_restore_it():
    model = tiny_model("layer")
    ids = _ids(30)
    before = model.hidden_states(ids)
    emb = token_features(model, ids, 0)
    torch.testing.assert_close(emb, model.backbone.embedding(ids).float())
    mid = token_features(model, ids, 1)
    expected = model.backbone.layers[0](model.backbone.embedding(ids).float())
    torch.testing.assert_close(mid, expected)
    torch.testing.assert_close(token_features(model, ids, 2), before)  # n_layer: the final-norm output
    torch.testing.assert_close(model.hidden_states(ids), before)  # nothing changed after the cut
    assert len(model.backbone.layers) == 2
    with pytest.raises(GenomambaError, match="layer 3"):
        token_features(model, ids, 3)


@pytest.mark.parametrize("pooling", ["mean", "center"])
def test_pooling_ignores_padding(pooling):
    model = tiny_model("head")
    seqs = [encode(random_seq(n, n)) for n in (31, 60)]
    with torch.inference_mode():
        batched = pooled_features(model, pad_batch(seqs), -1, "average", pooling)
        alone = torch.cat([pooled_features(model, pad_batch([s]), -1, "average", pooling) for s in seqs])
        feats = token_features(model, pad_batch(seqs[:1]), -1, "average")[0]
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)
    expected = feats.mean(0) if pooling == "mean" else feats[(31 - 1) // 2]
    np.testing.assert_allclose(alone[0].numpy(), expected.numpy(), atol=1e-5)
