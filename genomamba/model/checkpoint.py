"""Checkpoint directory format (self-describing, loadable without any training code).

    <dir>/config.json        {"format": "genomamba-checkpoint", "format_version": 1, "genomamba_version": ...,
                              "kind": "lm" | "sequence" | "position", "model": ModelConfig fields,
                              "head": head config fields or null, "extra": free JSON metadata}
    <dir>/tokenizer.json     NucleotideTokenizer.save()
    <dir>/model.safetensors  weights; tied tensors (LM head = embedding, BiMamba projections) stored once

The directory is written atomically (complete or absent). Every way a checkpoint can be unusable (missing
file, newer or foreign format, unknown config key, corrupt weights, missing/unexpected/mis-shaped tensor)
raises ``GenomambaError`` naming the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genomamba import __version__
from genomamba.alphabet import NucleotideTokenizer
from genomamba.atomic import atomic_dir
from genomamba.bundled import resolve_checkpoint
from genomamba.config import from_dict, to_dict
from genomamba.errors import GenomambaError
from genomamba.model.config import ModelConfig

FORMAT_NAME = "genomamba-checkpoint"
FORMAT_VERSION = 1
CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE = "config.json", "tokenizer.json", "model.safetensors"


def unique_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """state_dict with each tied tensor kept once (under its first name), as contiguous CPU tensors."""
    seen: set[tuple] = set()
    out: dict[str, torch.Tensor] = {}
    for name, tensor in module.state_dict().items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if key in seen:
            continue
        seen.add(key)
        out[name] = tensor.detach().to("cpu").contiguous()
    return out


def save_checkpoint(
    path: str | os.PathLike,
    module: nn.Module,
    model_config: ModelConfig,
    *,
    kind: str = "lm",
    head_config: Any | None = None,
    extra: dict | None = None,
) -> Path:
    """Write ``module``'s weights and configs as a checkpoint directory at ``path`` (atomically)."""
    from safetensors.torch import save_file

    path = Path(path)
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "genomamba_version": __version__,
        "kind": kind,
        "model": to_dict(model_config),
        "head": None if head_config is None else to_dict(head_config),
        "extra": extra or {},
    }
    try:
        text = json.dumps(meta, indent=2, sort_keys=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise GenomambaError(f"checkpoint metadata is not JSON-serialisable ({exc})", path) from None
    with atomic_dir(path, CONFIG_FILE, stamp=False) as tmp:  # the file list is the format: no stamp
        (tmp / CONFIG_FILE).write_text(text)
        NucleotideTokenizer().save(tmp / TOKENIZER_FILE)
        save_file(unique_state_dict(module), str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
    return path


def read_meta(path: str | os.PathLike) -> dict:
    """Validate the directory layout and ``config.json``; returns the metadata dict (with ``model``
    parsed into a ``ModelConfig`` under ``model_config`` and the tokenizer under ``tokenizer``). ``path`` may name
    a bundled model (``default``, ``bundled:<name>``)."""
    path = resolve_checkpoint(path)
    if not path.exists():
        raise GenomambaError("checkpoint not found", path)
    if not path.is_dir():
        raise GenomambaError("a checkpoint is a directory with config.json, tokenizer.json, model.safetensors", path)
    for name in (CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE):
        if not (path / name).is_file():
            raise GenomambaError(f"checkpoint is missing {name}", path)
    cfg_path = path / CONFIG_FILE
    try:
        meta = json.loads(cfg_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GenomambaError(f"cannot read checkpoint config ({exc})", cfg_path) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise GenomambaError(f"not a genomamba checkpoint (format is not {FORMAT_NAME!r})", cfg_path)
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise GenomambaError(f"invalid format_version {version!r}", cfg_path)
    if version > FORMAT_VERSION:
        raise GenomambaError(
            f"checkpoint format version {version} is newer than this genomamba {__version__} supports "
            f"(<= {FORMAT_VERSION}, written by genomamba {meta.get('genomamba_version')}); upgrade genomamba",
            cfg_path,
        )
    if not isinstance(meta.get("model"), dict):
        raise GenomambaError("checkpoint config has no 'model' section", cfg_path)
    meta["model_config"] = from_dict(ModelConfig, meta["model"], path=cfg_path)
    meta["tokenizer"] = NucleotideTokenizer.load(path / TOKENIZER_FILE)
    if meta["tokenizer"].vocab_size > meta["model_config"].vocab_size:
        raise GenomambaError("tokenizer vocabulary is larger than the model's vocab_size", cfg_path)
    return meta


def load_weights(path: str | os.PathLike, module: nn.Module, prefix: str = "") -> None:
    """Load ``model.safetensors`` of checkpoint ``path`` into ``module`` (on CPU), checking names and shapes.

    ``prefix``: only tensors whose names start with it are used, with the prefix removed (a backbone from a
    fine-tuned checkpoint). Tied tensors stored once fill every alias.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    file = resolve_checkpoint(path) / WEIGHTS_FILE
    try:
        stored = load_file(str(file), device="cpu")
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise GenomambaError(f"corrupt or unreadable weights ({exc})", file) from None
    if prefix:
        stored = {k[len(prefix) :]: v for k, v in stored.items() if k.startswith(prefix)}
    expected = unique_state_dict(module)
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing tensors {_names(missing)}")
        if unexpected:
            parts.append(f"unexpected tensors {_names(unexpected)}")
        raise GenomambaError("weights do not match the config: " + "; ".join(parts), file)
    for name, tensor in expected.items():
        if tuple(stored[name].shape) != tuple(tensor.shape):
            raise GenomambaError(
                f"tensor {name} has shape {tuple(stored[name].shape)}, the config needs {tuple(tensor.shape)}",
                file,
            )
        if not torch.isfinite(stored[name]).all():
            raise GenomambaError(f"tensor {name} holds NaN or infinite values", file)
    module.load_state_dict(stored, strict=False)  # strict=False only because tied aliases are stored once


def _names(names: list[str], limit: int = 5) -> str:
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
