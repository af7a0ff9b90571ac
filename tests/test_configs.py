"""Every config shipped in configs/ loads into its typed dataclass (unknown keys or wrong types would be errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from genomamba.config import load_config
from genomamba.finetune.config import load_finetune_config
from genomamba.model import ModelConfig
from genomamba.pretrain.config import load_pretrain_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("path", sorted((CONFIGS / "model").glob("*.yaml")), ids=lambda p: p.stem)
def test_model_presets_load(path):
    assert load_config(ModelConfig, path).d_model > 0


@pytest.mark.parametrize("path", sorted((CONFIGS / "pretrain").glob("*.yaml")), ids=lambda p: p.stem)
def test_pretrain_configs_load(path):
    cfg, model = load_pretrain_config(path, [])
    assert cfg.trainer.max_steps > 0 and model.fusion in ("head", "layer")
    # both fusion designs must be expressible from every pretraining config
    _, layer = load_pretrain_config(path, ["model.fusion=layer"])
    assert layer.fusion == "layer"


@pytest.mark.parametrize("path", sorted((CONFIGS / "finetune").glob("*.yaml")), ids=lambda p: p.stem)
def test_finetune_configs_load(path):
    cfg = load_finetune_config(path)
    assert cfg.train.batch_size >= 1 and cfg.data.path
