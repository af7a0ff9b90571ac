"""Models that ship inside genomamba, and the checkpoint names that resolve to them.

A bundled model is a checkpoint directory under ``genomamba/resources/models/<name>/`` (``config.json``,
``tokenizer.json``, ``model.safetensors``) with its model card beside the weights (``MODEL_CARD.md`` and
``model_card.json``, written by ``benchmarks/default_model.py``). ``GENOMAMBA_MODELS_DIR`` points at another folder
of such directories (tests, site installs).

Wherever a checkpoint path is read (``GenomambaModel.from_pretrained``, ``score-vcf --checkpoint``, ``finetune
--pretrained``), ``resolve_checkpoint`` turns a name into a directory: ``default`` is the bundled default model
(unless a directory ``./default`` exists: a path always wins), ``bundled:<name>`` any bundled model. A name with no
bundled model behind it is a one-line error that says how to make one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from genomamba.errors import GenomambaError

DEFAULT_MODEL = "default"
BUNDLED_PREFIX = "bundled:"
MODELS_ENV = "GENOMAMBA_MODELS_DIR"
CARD_JSON, CARD_MD = "model_card.json", "MODEL_CARD.md"
MAX_BUNDLED_MB = 25.0  # the wheel must stay small: the bundled weights get at most this much
MAKE_HINT = "train it with `make model`"


def models_dir() -> Path:
    """The folder holding bundled model directories (``GENOMAMBA_MODELS_DIR`` or the package's own)."""
    env = os.environ.get(MODELS_ENV)
    return Path(env) if env else Path(__file__).resolve().parent / "resources" / "models"


@dataclass(frozen=True)
class BundledModel:
    name: str
    path: Path

    @property
    def card(self) -> dict:
        """``model_card.json`` ({} when the card is missing or unreadable: the weights still load)."""
        try:
            return json.loads((self.path / CARD_JSON).read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    @property
    def size_mb(self) -> float:
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file()) / 2**20


def bundled_models() -> list[BundledModel]:
    """Every bundled model directory (one holding a ``config.json``), by name."""
    root = models_dir()
    if not root.is_dir():
        return []
    return [BundledModel(d.name, d) for d in sorted(root.iterdir()) if (d / "config.json").is_file()]


def bundled_model(name: str = DEFAULT_MODEL) -> BundledModel:
    """The bundled model ``name``; a one-line ``GenomambaError`` when it is not there."""
    path = models_dir() / name
    if (path / "config.json").is_file():
        return BundledModel(name, path)
    if name == DEFAULT_MODEL:
        raise GenomambaError(f"no bundled default model yet: {MAKE_HINT}")
    known = ", ".join(m.name for m in bundled_models()) or "none"
    raise GenomambaError(f"no bundled model {name!r} (bundled: {known})")


def resolve_checkpoint(path_or_name: str | os.PathLike) -> Path:
    """A checkpoint directory, ``default`` or ``bundled:<name>`` -> the checkpoint directory to load."""
    text = os.fspath(path_or_name)
    if text.startswith(BUNDLED_PREFIX):
        return bundled_model(text.removeprefix(BUNDLED_PREFIX)).path
    if text == DEFAULT_MODEL and not Path(text).exists():
        return bundled_model(DEFAULT_MODEL).path
    return Path(text)


def card_lines(card: dict) -> list[str]:
    """A few readable lines from a model card: architecture, training, data, the headline numbers."""
    lines = []
    model = card.get("model", {})
    if model:
        arch = ", ".join(f"{k} {model[k]}" for k in ("mixer", "d_model", "n_layer", "fusion") if k in model)
        params = card.get("parameters")
        lines.append(f"architecture: {arch}" + (f"; {params:,} parameters" if isinstance(params, int) else ""))
    training = card.get("training", {})
    if training:
        parts = [
            f"{training['tokens_seen']:,} tokens" if "tokens_seen" in training else None,
            f"{training['steps']:,} steps" if "steps" in training else None,
            f"{training['wall_seconds'] / 60:.0f} min" if "wall_seconds" in training else None,
            training.get("machine"),
        ]
        lines.append("training: " + ", ".join(p for p in parts if p))
    genomes = card.get("genomes", {})
    if genomes:
        lines.append("genomes: " + ", ".join(genomes))
    for name, g in card.get("bits_per_base", {}).items():
        model_bpb, kmer = g.get("model"), g.get("best_kmer")
        if model_bpb is not None and kmer is not None:
            lines.append(f"test bits/base {name}: {model_bpb:.3f} (best k-mer {kmer:.3f})")
    for name, genome in card.get("vep_auroc", {}).items():
        rows = genome.get("contrasts", {})
        text = ", ".join(
            f"{c} {r['model']:.3f} (k-mer {r['kmer']:.3f})"
            for c, r in rows.items()
            if r.get("model") is not None and r.get("kmer") is not None
        )
        if text:
            lines.append(f"dev-SNV AUROC {name}: {text}")
    if card.get("command"):
        lines.append(f"made by: {card['command']}")
    return lines
