"""What a fine-tuned checkpoint records beyond the network (``extra["finetune"]`` in its config.json), and loading
it back: the task, class order, target scaling and dataset settings that ``predict`` and ``evaluate`` need to
reproduce the setup."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genomamba.config import from_dict, to_dict
from genomamba.errors import GenomambaError
from genomamba.finetune.datasets import DataConfig, LabeledData, describe_source

if TYPE_CHECKING:
    from genomamba.finetune.config import FinetuneConfig
    from genomamba.finetune.run import FinetuneResult
    from genomamba.model import GenomambaForSequence


@dataclass
class FinetuneMeta:
    """The typed part of a checkpoint's fine-tuning metadata."""

    task: str  # binary | multiclass | regression
    classes: list[str]  # class names in output order; empty for regression
    target_mean: float  # regression outputs are standardised targets: value = out * std + mean
    target_std: float
    data: DataConfig  # the training dataset's settings
    config_path: str | None


def checkpoint_extra(cfg: FinetuneConfig, data: LabeledData, result: FinetuneResult, config_path: str | None) -> dict:
    """Metadata stored in the fine-tuned checkpoint (``extra``): what ``predict`` / ``evaluate`` need, plus the run's
    config, data summary and training history."""
    return {
        "finetune": {
            "task": data.task,
            "classes": data.classes,
            "target_mean": result.target_mean,
            "target_std": result.target_std,
            "config": to_dict(cfg),
            "config_path": config_path,
            "dataset": describe_source(cfg.data),
            "data_summary": data.summary(),
            "best_epoch": result.best_epoch,
            "steps": result.steps,
            "train_seconds": round(result.seconds, 2),
            "history": result.history,
        }
    }


def save_into(net: GenomambaForSequence, directory: Path, extra: dict) -> None:
    """Write the checkpoint files into ``directory``, an output being assembled (inside ``atomic_dir``) with other
    files beside them: ``save_pretrained`` writes a whole directory atomically, so it writes a scratch
    subdirectory whose files then move up."""
    scratch = directory / ".checkpoint"
    net.save_pretrained(scratch, extra=extra)
    for f in scratch.iterdir():
        shutil.move(str(f), directory / f.name)
    scratch.rmdir()


def read_finetune_meta(net, path: str | os.PathLike) -> FinetuneMeta:
    """The ``FinetuneMeta`` of a loaded network; a checkpoint without it (not fine-tuned) is an error."""
    meta = getattr(net, "extra", {}).get("finetune")
    if not isinstance(meta, dict) or "task" not in meta:
        raise GenomambaError("not a fine-tuned checkpoint (no finetune metadata; run genomamba finetune)", path)
    return FinetuneMeta(
        task=meta["task"],
        classes=list(meta["classes"]),
        target_mean=float(meta["target_mean"]),
        target_std=float(meta["target_std"]),
        data=from_dict(DataConfig, meta["config"]["data"], path=path),
        config_path=meta.get("config_path"),
    )


def load_finetuned(
    path: str | os.PathLike, backend: str | None = None, device: str = "cpu"
) -> tuple[GenomambaForSequence, FinetuneMeta]:
    """A fine-tuned network (eval mode, on ``device``: auto|cpu|cuda[:N]) and its metadata; a pretrained LM without
    a head is an error."""
    from genomamba.model import load_for_inference

    net, _ = load_for_inference(path, device, backend)
    if not hasattr(net, "head_config"):
        raise GenomambaError("a pretrained LM has no head: fine-tune it first (genomamba finetune)", path)
    return net, read_finetune_meta(net, path)
