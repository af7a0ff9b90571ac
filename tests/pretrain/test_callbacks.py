"""The pretraining callbacks and report helpers, each on its own (stub trainer and module, no training)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

from genomamba.pretrain.callbacks import Export, Progress
from genomamba.pretrain.config import PretrainConfig
from genomamba.pretrain.report import best_of, comparisons, format_table


class _Module:
    def __init__(self):
        self.logged: dict[str, float] = {}
        self.saved: list[tuple[Path, dict]] = []
        self.best_val_bpb = math.inf
        self.model = SimpleNamespace(save_pretrained=lambda path, extra: self.saved.append((Path(path), extra)))

    def log(self, name, value, **kw):
        self.logged[name] = value


def _trainer(step: int, **kw) -> SimpleNamespace:
    base = {"global_step": step, "world_size": 2, "is_global_zero": True, "callback_metrics": {}}
    return SimpleNamespace(**{**base, **kw})


def test_progress_counts_tokens_of_every_rank_and_logs_on_schedule():
    cfg = PretrainConfig()
    cfg.trainer.log_every_steps = 5
    cb, module = Progress(cfg), _Module()
    cb.on_train_start(_trainer(0), module)
    for step in (1, 2, 3, 4):
        cb.on_train_batch_end(_trainer(step), module, None, None, step)
    assert cb.tokens == 4 * 2 * cfg.data.tokens_per_micro_batch and module.logged == {}
    cb.on_train_batch_end(_trainer(5), module, None, None, 5)
    assert module.logged["train/tokens_per_s"] > 0


def test_progress_times_steady_steps_only(monkeypatch):
    cfg = PretrainConfig()
    cfg.trainer.log_every_steps = 1000
    clock = iter(float(t) for t in range(1000))
    monkeypatch.setattr("genomamba.pretrain.callbacks.time.perf_counter", lambda: next(clock))
    cb, module = Progress(cfg), _Module()
    cb.on_train_start(_trainer(0), module)
    assert cb.steady_step_seconds is None
    step = 0
    for _ in range(Progress.SETTLE + 3):  # the first SETTLE steps are not timed; then 1 clock tick per step
        step += 1
        cb.on_train_batch_end(_trainer(step), module, None, None, step)
    assert len(cb.step_durations) == 3 and cb.steady_step_seconds == 1.0
    cb.on_train_batch_end(_trainer(step), module, None, None, step)  # a micro-batch of the same step: no new interval
    cb.on_validation_start(_trainer(step), module)
    next(clock), next(clock)  # the validation takes time
    cb.on_train_batch_end(_trainer(step + 1), module, None, None, step + 1)  # spans the validation: not timed
    cb.on_train_batch_end(_trainer(step + 2), module, None, None, step + 2)
    assert len(cb.step_durations) == 4 and cb.steady_step_seconds == 1.0


def test_export_keeps_the_best_val_model(tmp_path):
    cfg = PretrainConfig()
    cb, module = Export(cfg, tmp_path, dm=None), _Module()
    for step, bpb in ((10, 1.9), (20, 1.7), (30, 1.8)):
        module.last_eval = {"val/bits_per_base": bpb}
        cb.on_validation_end(_trainer(step, sanity_checking=False), module)
    assert module.best_val_bpb == 1.7
    assert [(p.name, e["pretraining"]["step"]) for p, e in module.saved] == [("best", 10), ("best", 20)]
    cb.on_save_checkpoint(_trainer(30), module, {})
    assert module.saved[-1][0] == tmp_path / "last"


def test_report_compares_with_the_best_baseline_of_each_family():
    baselines = {
        "val": {"one_sided_k2": 1.95, "one_sided_k4": 1.90, "two_sided_k1": 1.85},
        "test": {"one_sided_k2": 1.96, "one_sided_k4": 1.91, "two_sided_k1": 1.80},
    }
    assert best_of(baselines, "val", "one_sided") == ("one_sided_k4", 1.90)
    rows = comparisons(baselines, best_val_bpb=1.88, test_bpb=1.82)
    assert rows["val_vs_best_one_sided"]["model_better"] and not rows["val_vs_best_two_sided"]["model_better"]
    assert rows["test_vs_best_two_sided"] == {
        "baseline": "two_sided_k1",
        "baseline_bits_per_base": 1.80,
        "model_bits_per_base": 1.82,
        "model_better": False,
    }
    table = format_table({"baselines": baselines, "best_val_bits_per_base": 1.88, "test_best_model": {}})
    assert "| model (best by val) | 1.8800 | n/a |" in table and "| two_sided_k1 | 1.8500 | 1.8000 |" in table
