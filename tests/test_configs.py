"""Every config shipped in configs/ loads into its typed dataclass (unknown keys or wrong types would be errors), and
no config takes a NaN or infinite number, whether loaded or built directly."""

from __future__ import annotations

from pathlib import Path

import pytest

from genomamba.baselines.kmer_classifier import KmerBaselineConfig
from genomamba.config import all_finite, from_dict, load_config
from genomamba.errors import GenomambaError
from genomamba.finetune.config import DataConfig, FinetuneOptim, FinetuneTrain, load_finetune_config
from genomamba.finetune.task_config import PromoterTaskConfig, SpliceTaskConfig, SplitConfig
from genomamba.infer.config import ProbeConfig
from genomamba.model import ModelConfig
from genomamba.optim import OptimConfig
from genomamba.pretrain.config import BaselineConfig, TrainerConfig, load_pretrain_config

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


NAN, INF = float("nan"), float("inf")
# (config, field, NaN or inf in the shape the field takes): float fields whose own check is a comparison
NON_FINITE = [
    (ModelConfig, "dt_max", INF),
    (ModelConfig, "dt_scale", NAN),
    (ModelConfig, "checkpoint_budget_gib", INF),
    (OptimConfig, "lr", NAN),
    (OptimConfig, "grad_clip", INF),
    (OptimConfig, "eps", NAN),
    (FinetuneOptim, "backbone_lr", INF),
    (FinetuneOptim, "weight_decay", NAN),
    (FinetuneTrain, "max_time_minutes", NAN),
    (FinetuneTrain, "class_weights", [1.0, INF]),
    (DataConfig, "resplit_fractions", [NAN, 0.1, 0.1]),
    (TrainerConfig, "max_time_minutes", INF),
    (BaselineConfig, "alpha", NAN),
    (KmerBaselineConfig, "strengths", [NAN]),
    (ProbeConfig, "strengths", [1.0, INF]),
    (SplitConfig, "fractions", (NAN, 0.1, 0.1)),
    (PromoterTaskConfig, "negatives_per_positive", NAN),
    (SpliceTaskConfig, "decoys_per_site", INF),
]


@pytest.mark.parametrize("cls, name, value", [pytest.param(*c, id=f"{c[0].__name__}.{c[1]}") for c in NON_FINITE])
def test_non_finite_numbers_are_refused_built_directly_and_loaded(cls, name, value):
    with pytest.raises(ValueError):
        cls(**{name: value})
    with pytest.raises(GenomambaError, match=rf"^{name}(\[\d\])?: expected a finite number"):
        from_dict(cls, {name: value})


def test_all_finite_and_numbers_beyond_the_float_range():
    assert all_finite(0, 1.5, -2) and all_finite()
    assert not all_finite(NAN) and not all_finite(1.0, -INF) and not all_finite(True) and not all_finite("1")
    assert not all_finite(10**400)
    with pytest.raises(GenomambaError, match="lr: expected a finite number"):
        from_dict(OptimConfig, {"lr": 10**400})
