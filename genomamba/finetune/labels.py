"""Label columns -> task kind, class order and label arrays, with one-line errors that name the row.

Classification labels become int64 class indices (``'1'``, ``'1.0'`` and ``' 1'`` name the same class); regression
labels become float32 targets. The task kind ``auto`` is inferred from the training split's labels: text or up to
``MAX_AUTO_CLASSES`` distinct integers is classification, anything else regression.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from genomamba.errors import GenomambaError

MAX_AUTO_CLASSES = 50  # integer labels with more distinct values than this are treated as regression targets

TaskKind = Literal["binary", "multiclass", "regression"]
Where = tuple[Path, int]  # (file, 1-based line) of a row


def _looks_like_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def infer_task(values: Sequence[str]) -> TaskKind:
    if not all(_looks_like_number(v) for v in values):
        return "binary" if len(set(values)) == 2 else "multiclass"
    numbers = np.asarray([float(v) for v in values])
    distinct = np.unique(numbers)
    if np.all(distinct == np.round(distinct)) and distinct.size <= MAX_AUTO_CLASSES:
        return "binary" if distinct.size == 2 else "multiclass"
    return "regression"


def canonical_label(value: str) -> str:
    """'1', '1.0' and ' 1' name the same class."""
    if _looks_like_number(value):
        number = float(value)
        if number == round(number):
            return str(int(number))
    return value


def class_order(values: set[str]) -> list[str]:
    if all(_looks_like_number(v) for v in values):
        return sorted(values, key=float)
    return sorted(values)


def regression_targets(values: Sequence[str], where: Sequence[Where]) -> np.ndarray:
    """float32 (n,) targets; a label that is not a finite number is an error at its row."""
    labels = np.empty(len(values), dtype=np.float32)
    for i, value in enumerate(values):
        try:
            labels[i] = float(value)
        except ValueError:
            raise GenomambaError(
                f"regression label {value!r} is not a number", where[i][0], f"line {where[i][1]}"
            ) from None
        if not np.isfinite(labels[i]):
            raise GenomambaError(f"regression label {value!r} is not finite", where[i][0], f"line {where[i][1]}")
    return labels


def class_labels(
    values: Sequence[str],
    where: Sequence[Where],
    task: TaskKind,
    classes: list[str] | None,
    basis: np.ndarray,
    source: str,
) -> tuple[list[str], np.ndarray]:
    """(class names, int64 (n,) indices). ``classes`` fixes the order; else the sorted labels of rows ``basis``."""
    canon = [canonical_label(v) for v in values]
    if classes is not None:
        names, origin = [canonical_label(c) for c in classes], "data.classes"
    else:
        names, origin = class_order({canon[i] for i in basis}), "the training split"
    index = {c: k for k, c in enumerate(names)}
    labels = np.empty(len(canon), dtype=np.int64)
    for i, value in enumerate(canon):
        k = index.get(value)
        if k is None:
            raise GenomambaError(
                f"unknown label {values[i]!r} (classes from {origin}: {', '.join(names)})",
                where[i][0],
                f"line {where[i][1]}",
            )
        labels[i] = k
    if task == "binary" and len(names) != 2:
        raise GenomambaError(f"binary task needs exactly 2 classes, found {len(names)}: {names}", source)
    if len(names) < 2:
        raise GenomambaError(f"classification needs at least 2 classes, found {names}", source)
    return names, labels


def encode_labels(
    values: Sequence[str],
    where: Sequence[Where],
    task: TaskKind | Literal["auto"],
    classes: list[str] | None,
    train_idx: np.ndarray,
    source: str,
) -> tuple[TaskKind, list[str], np.ndarray]:
    """(task kind, class names -- empty for regression, labels (n,)) for the label strings of every row."""
    basis = train_idx if train_idx.size else np.arange(len(values))
    if task == "auto":
        task = infer_task([values[i] for i in basis])
    if task == "regression":
        return task, [], regression_targets(values, where)
    names, labels = class_labels(values, where, task, classes, basis, source)
    return task, names, labels


def missing_labels(n: int, task: TaskKind, classes: list[str]) -> tuple[list[str], np.ndarray]:
    """Placeholders for unlabeled rows (prediction on new data): -1 class indices, or NaN targets."""
    if task == "regression":
        return [], np.full(n, np.nan, np.float32)
    return [canonical_label(c) for c in classes], np.full(n, -1, np.int64)
