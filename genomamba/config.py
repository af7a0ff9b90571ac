"""Typed configuration: dataclasses are the single source of defaults; YAML files and ``key=value`` overrides
are checked against them (unknown keys and wrong types are errors, never silently ignored).

Every command builds its config the same way (``load_config``): the YAML file, then ``key=value`` overrides, then
the typed values of the flags the user set, merge into one mapping that the dataclass validates once. Flags keep
their argparse type; nothing is turned into a string and parsed back.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import yaml

from genomamba.errors import GenomambaError

T = TypeVar("T")


def all_finite(*values: Any) -> bool:
    """True when every value is a real number, neither NaN nor infinite: the first step of each float range check.

    A check written as a comparison alone lets NaN through (every comparison with NaN is false, so ``x < 0`` never
    fires) and lets inf past any lower bound. Integers too large for a float count as infinite.
    """
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        try:
            if not math.isfinite(value):
                return False
        except OverflowError:  # an int beyond the float range
            return False
    return True


class _NotFinite(GenomambaError):
    """A number where a number belongs, but NaN or infinite. A union reports it as it is instead of trying its next
    alternative, whose "nan is not float or null" would hide the reason."""


def _coerce(value: Any, tp: Any, where: str, path: str | None) -> Any:
    """Check ``value`` against the annotation ``tp`` (coercing int->float and nested dicts to dataclasses)."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where, path)
            except _NotFinite:
                raise
            except GenomambaError:
                continue
        names = " or ".join("null" if a is type(None) else getattr(a, "__name__", str(a)) for a in args)
        raise GenomambaError(f"{where}: {value!r} is not {names}", path)
    if origin is Literal:
        if value not in get_args(tp):
            choices = "|".join(str(a) for a in get_args(tp))
            raise GenomambaError(f"{where}: {value!r} is not one of {choices}", path)
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise GenomambaError(f"{where}: expected a list, got {value!r}", path)
        (item_tp, *_) = get_args(tp) or (Any,)
        items = [_coerce(v, item_tp, f"{where}[{i}]", path) for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise GenomambaError(f"{where}: expected a mapping, got {value!r}", path)
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise GenomambaError(f"{where}: expected a mapping, got {value!r}", path)
        return from_dict(tp, value, path=path, prefix=f"{where}.")
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise GenomambaError(f"{where}: expected a number, got {value!r}", path)
        if not all_finite(value):
            raise _NotFinite(f"{where}: expected a finite number, got {value!r}", path)
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise GenomambaError(f"{where}: expected an integer, got {value!r}", path)
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise GenomambaError(f"{where}: expected true/false, got {value!r}", path)
        return value
    if tp is str:
        if not isinstance(value, str):
            raise GenomambaError(f"{where}: expected a string, got {value!r}", path)
        return value
    return value


def from_dict(cls: type[T], data: dict, path: str | os.PathLike | None = None, prefix: str = "") -> T:
    """Build dataclass ``cls`` from a mapping; unknown keys and wrong types raise ``GenomambaError``."""
    path = None if path is None else os.fspath(path)
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise GenomambaError(f"unknown key(s) {', '.join(prefix + k for k in unknown)}", path)
    kwargs = {k: _coerce(v, hints[k], prefix + k, path) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise GenomambaError(f"invalid {cls.__name__}: {exc}", path) from None


def to_dict(obj: Any) -> dict:
    """Plain-dict view of a (nested) config dataclass, for JSON/YAML output."""
    return dataclasses.asdict(obj)


def read_yaml(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise GenomambaError("config file not found", path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark else None
        raise GenomambaError(f"not valid YAML ({getattr(exc, 'problem', exc)})", path, line) from None
    if not isinstance(data, dict):
        raise GenomambaError("expected a mapping at the top level", path)
    return data


def _set(data: dict, key: str, value: Any) -> None:
    """``data["a"]["b"] = value`` for ``key`` "a.b", creating sections as needed."""
    node = data
    *parents, leaf = key.split(".")
    for p in parents:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise GenomambaError(f"{key}: {p} is not a section")
    node[leaf] = value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``a.b=value`` overrides (values parsed as YAML scalars) onto a nested mapping, in place."""
    for item in overrides:
        if "=" not in item:
            raise GenomambaError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        _set(data, key, yaml.safe_load(raw) if raw != "" else "")
    return data


def set_values(data: dict, values: dict[str, Any]) -> dict:
    """Set typed ``{"a.b": value}`` entries onto a nested mapping, in place; ``None`` means "not given"."""
    for key, value in values.items():
        if value is not None:
            _set(data, key, value)
    return data


class Flags(dict):
    """``{config_key: value}`` of the flags a user set, remembering each key's flag (``--window-size``), so a range
    error names what the user typed."""

    def __init__(self, values: dict[str, Any], names: dict[str, str]):
        super().__init__(values)
        self.names = names

    def update(self, other=(), **kw) -> None:
        super().update(other, **kw)
        self.names.update(getattr(other, "names", {}))


def load_config(
    cls: type[T],
    path: str | os.PathLike | None = None,
    overrides: list[str] = (),
    flags: dict[str, Any] | None = None,
) -> T:
    """Load ``cls``: optional YAML file < ``key=value`` overrides < typed flag values (``None`` = not given);
    dataclass defaults fill the rest, and the dataclass checks the result once."""
    data = read_yaml(path) if path is not None else {}
    apply_overrides(data, list(overrides))
    set_values(data, flags or {})
    try:
        return from_dict(cls, data, path=path)
    except GenomambaError as exc:
        # a nested dataclass's own check names the leaf ("window"), a section key the full path ("promoters.window")
        names = getattr(flags, "names", {})
        names = {**{k.rsplit(".", 1)[-1]: v for k, v in names.items()}, **names}
        problem = exc.problem
        for key in sorted(names, key=len, reverse=True):  # "min_tail" before "tail"
            problem = re.sub(rf"(?<![\w.-]){re.escape(key)}\b", names[key], problem)
        raise GenomambaError(problem, exc.path, exc.record) from None


def flag_values(args: Any, names: dict[str, str] | tuple[str, ...]) -> Flags:
    """``{config_key: value}`` for the argparse flags in ``names`` (a tuple of same-named keys, or a mapping
    flag -> dotted config key) that the user set; flags default to ``None`` so the dataclass stays the one source
    of defaults."""
    pairs = list(names.items() if isinstance(names, dict) else ((n, n) for n in names))
    values = {key: getattr(args, flag) for flag, key in pairs if getattr(args, flag) is not None}
    return Flags(values, {key: "--" + flag.replace("_", "-") for flag, key in pairs if key in values})
