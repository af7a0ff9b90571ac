"""The workflow schema may repeat a package default or bound only if it equals the dataclass's own.

Bounds are checked by behaviour, not by reading code: the schema's minimum must be accepted by the dataclass and the
value one step below it refused (likewise maxima and exclusive bounds). A schema key that mirrors a dataclass field
must be listed in ``MIRRORS``; a numeric key that is neither listed nor workflow-only fails the test, so a new key
cannot drift unnoticed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from genomamba.config import from_dict
from genomamba.errors import GenomambaError
from genomamba.genome.windows import WindowsConfig
from genomamba.pretrain.config import TrainerConfig
from genomamba.vep.config import LABEL_FIELD, ScoreVcfConfig

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = yaml.safe_load((ROOT / "configs/schemas/config.schema.yaml").read_text())
WINDOWS = SCHEMA["properties"]["genomes"]["additionalProperties"]["properties"]["windows"]["properties"]

# schema path -> (dataclass, field, other fields that make the probe values valid on their own)
MIRRORS = {
    **{
        f"genomes.*.windows.{name}": (WindowsConfig, name, {"val_frac": 0.0, "test_frac": 0.0})
        for name in WINDOWS
        if name not in ("split_by",)
    },
    "vep.context": (ScoreVcfConfig, "context", {}),
    "pretrain.devices": (TrainerConfig, "devices", {}),
    "pretrain.nodes": (TrainerConfig, "num_nodes", {}),
}
# numeric keys that only the workflow reads (Snakemake resources)
WORKFLOW_ONLY = {"resources.threads", "resources.mem_mb", "resources.gpu"}


def _node(path: str) -> dict:
    node = SCHEMA
    for part in path.split("."):
        node = node["additionalProperties"] if part == "*" else node["properties"][part]
    return node


def _numeric_keys(node: dict, prefix: str = "") -> list[str]:
    out = []
    for name, sub in (node.get("properties") or {}).items():
        out += _numeric_keys(sub, f"{prefix}{name}.")
        if sub.get("type") in ("integer", "number"):
            out.append(prefix + name)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and extra.get("type") == "object":
        out += _numeric_keys(extra, f"{prefix}*.")
    return out


def _accepts(cls, base: dict, name: str, value) -> bool:
    try:
        from_dict(cls, {**base, name: value})
    except GenomambaError:
        return False
    return True


def test_every_numeric_schema_key_is_mirrored_or_workflow_only():
    unknown = set(_numeric_keys(SCHEMA)) - set(MIRRORS) - WORKFLOW_ONLY
    assert not unknown, f"schema keys with no dataclass mirror listed in MIRRORS: {sorted(unknown)}"


@pytest.mark.parametrize("path", sorted(MIRRORS))
def test_schema_default_and_bounds_equal_the_dataclass(path):
    cls, name, base = MIRRORS[path]
    node = _node(path)
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    if "default" in node:
        assert node["default"] == field.default, f"{path}: schema default {node['default']} != {field.default}"
    step = 1 if node.get("type") == "integer" else 1e-9
    for key, inside, outside in (
        ("minimum", 0, -step),
        ("maximum", 0, step),
        ("exclusiveMinimum", step, 0),
        ("exclusiveMaximum", -step, 0),
    ):
        if key in node:
            bound = node[key]
            assert _accepts(cls, base, name, bound + inside), f"{path}: dataclass refuses {bound + inside} ({key})"
            assert not _accepts(cls, base, name, bound + outside), f"{path}: dataclass accepts {bound + outside}"


def test_context_bound_is_the_dataclass_bound():
    # the case that used to pass validation and fail inside the rule
    assert not _accepts(ScoreVcfConfig, {}, "context", 32)
    assert _node("vep.context")["minimum"] == 64


def test_label_field_default_is_the_scoring_default():
    # score-vcf writes labels under LABEL_FIELD and evaluate-vep reads it by default; the workflow must agree
    assert _node("vep.label_field")["default"] == LABEL_FIELD
