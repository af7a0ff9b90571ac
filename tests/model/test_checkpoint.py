"""save_pretrained -> from_pretrained round trips exactly; every unusable checkpoint gives a clear error."""

from __future__ import annotations

import json

import pytest
import torch

from genomamba.errors import GenomambaError
from genomamba.model import (
    FORMAT_VERSION,
    GenomambaForSequence,
    GenomambaModel,
    HeadConfig,
    load_pretrained,
)

from .conftest import random_ids, tiny_model


def test_round_trip_identical_outputs(tmp_path, design):
    fusion, rc = design
    model = tiny_model(fusion=fusion, rc=rc)
    path = model.save_pretrained(tmp_path / "ckpt", extra={"step": 12, "data": "yeast"})
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]
    meta = json.loads((path / "config.json").read_text())
    assert meta["format"] == "genomamba-checkpoint" and meta["format_version"] == FORMAT_VERSION
    assert meta["model"]["fusion"] == fusion and meta["extra"] == {"step": 12, "data": "yeast"}
    loaded = GenomambaModel.from_pretrained(path, backend="ref")
    assert not loaded.training and loaded.extra["step"] == 12
    x = random_ids(2, 19)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    # tied weights stay tied after loading (stored once in the file)
    if fusion == "layer":
        mixer = loaded.backbone.layers[0].mixer
        mixer = getattr(mixer, "mixer", mixer)
        assert mixer.mixer_rev.in_proj is mixer.mixer_fwd.in_proj


def test_backend_override_and_default(tmp_path):
    model = tiny_model(fusion="head")
    model.save_pretrained(tmp_path / "c")
    assert GenomambaModel.from_pretrained(tmp_path / "c").config.backend == "ref"
    loaded = GenomambaModel.from_pretrained(tmp_path / "c", backend="cpu")
    assert {m.backend for m in loaded.modules() if hasattr(m, "backend")} == {"cpu"}


@pytest.mark.parametrize("kind", ["sequence", "position"])
def test_head_round_trip(tmp_path, kind):
    model = tiny_model(fusion="layer", rc="ps")
    wrapper = GenomambaForSequence(model, HeadConfig(kind=kind, n_outputs=3, labels=["a", "b", "c"])).eval()
    wrapper.save_pretrained(tmp_path / "ft", extra={"task": "demo"})
    loaded = load_pretrained(tmp_path / "ft")
    assert isinstance(loaded, GenomambaForSequence) and loaded.head_config.labels == ["a", "b", "c"]
    x = random_ids(2, 12)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), wrapper(x), rtol=0, atol=0)
        # the backbone of a fine-tuned checkpoint loads on its own
        backbone = GenomambaModel.from_pretrained(tmp_path / "ft")
        torch.testing.assert_close(backbone(x), model(x), rtol=0, atol=0)
    with pytest.raises(GenomambaError, match="has no head"):
        GenomambaForSequence.from_pretrained(model.save_pretrained(tmp_path / "lm"))


@pytest.fixture
def saved(tmp_path):
    return tiny_model(fusion="head").save_pretrained(tmp_path / "ckpt")


def _edit_config(path, **changes):
    meta = json.loads((path / "config.json").read_text())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(meta.get(key), dict):
            meta[key].update(value)
        else:
            meta[key] = value
    (path / "config.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json", "model.safetensors"])
def test_missing_file(saved, name):
    (saved / name).unlink()
    with pytest.raises(GenomambaError, match=f"missing {name}"):
        GenomambaModel.from_pretrained(saved)


def test_not_a_directory(tmp_path):
    with pytest.raises(GenomambaError, match="not found"):
        GenomambaModel.from_pretrained(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(GenomambaError, match="is a directory"):
        GenomambaModel.from_pretrained(tmp_path / "file")


def test_newer_format_version(saved):
    _edit_config(saved, format_version=FORMAT_VERSION + 1)
    with pytest.raises(GenomambaError, match="newer than this genomamba"):
        GenomambaModel.from_pretrained(saved)


def test_foreign_format(saved):
    _edit_config(saved, format="some-other-model")
    with pytest.raises(GenomambaError, match="not a genomamba checkpoint"):
        GenomambaModel.from_pretrained(saved)
    (saved / "config.json").write_text("{not json")
    with pytest.raises(GenomambaError, match="cannot read checkpoint config"):
        GenomambaModel.from_pretrained(saved)


def test_unknown_config_key(saved):
    _edit_config(saved, model={"d_modle": 3})
    with pytest.raises(GenomambaError, match="unknown key.*d_modle"):
        GenomambaModel.from_pretrained(saved)


def test_corrupt_weights(saved):
    data = (saved / "model.safetensors").read_bytes()
    (saved / "model.safetensors").write_bytes(data[: len(data) // 2])  # truncated download
    with pytest.raises(GenomambaError, match="corrupt or unreadable weights"):
        GenomambaModel.from_pretrained(saved)
    (saved / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(GenomambaError, match="corrupt or unreadable weights"):
        GenomambaModel.from_pretrained(saved)


def test_shape_mismatch(saved):
    _edit_config(saved, model={"d_state": 8})  # the weights were saved with d_state=4
    with pytest.raises(GenomambaError, match=r"has shape .* the config needs"):
        GenomambaModel.from_pretrained(saved)


def test_missing_tensors(saved):
    _edit_config(saved, model={"n_layer": 3})  # one more layer than stored
    with pytest.raises(GenomambaError, match="missing tensors backbone.layers.2"):
        GenomambaModel.from_pretrained(saved)
    _edit_config(saved, model={"n_layer": 1})
    with pytest.raises(GenomambaError, match="unexpected tensors backbone.layers.1"):
        GenomambaModel.from_pretrained(saved)


def test_non_finite_weights(tmp_path):
    model = tiny_model(fusion="head")
    with torch.no_grad():
        model.fusion_head.start[0] = float("nan")
    model.save_pretrained(tmp_path / "nan")
    with pytest.raises(GenomambaError, match="NaN or infinite"):
        GenomambaModel.from_pretrained(tmp_path / "nan")


def test_save_is_atomic(tmp_path, saved, monkeypatch):
    import safetensors.torch

    before = (saved / "model.safetensors").read_bytes()
    with pytest.raises(GenomambaError, match="not JSON-serialisable"):
        tiny_model(fusion="layer").save_pretrained(saved, extra={"bad": object()})

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", disk_full)
    with pytest.raises(OSError, match="No space left"):
        tiny_model(fusion="layer").save_pretrained(saved)
    assert (saved / "model.safetensors").read_bytes() == before  # the old checkpoint is untouched
    assert [p.name for p in saved.parent.iterdir()] == ["ckpt"]  # no temporary left behind
    GenomambaModel.from_pretrained(saved)
