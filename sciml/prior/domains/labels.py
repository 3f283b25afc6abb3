"""Labels of classification supports: checked, never silently dropped or relabelled."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def binary_labels(labels: Sequence[Any], n: int) -> np.ndarray:
    """0/1 labels ``[n]`` with at least one of each class.

    Raises:
        ValueError: a count mismatch, a label other than 0/1 (or True/False), or a class
            missing from the support.
    """
    from sciml.prior.domains.base import check_lengths

    arr = np.asarray(list(labels), dtype=object)
    check_lengths(n, len(arr), "molecules")
    values = []
    for i, v in enumerate(arr):
        if isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, float, np.integer, np.floating)) and float(v) in (0.0, 1.0)):
            values.append(float(v))
        else:
            raise ValueError(f"Label {i} is {v!r}: binary labels must be 0 or 1 (inactive / active).")
    y = np.asarray(values)
    if y.min() == y.max():
        raise ValueError(f"Every support label is {int(y[0])}: calibration needs at least one positive and one negative.")
    return y


def class_indices(labels: Sequence[Any], n: int, what: str) -> tuple[np.ndarray, list[Any]]:
    """Class indices ``[n]`` and the sorted class names, every class with at least one example
    and at least two classes."""
    from sciml.prior.domains.base import check_lengths

    labels = list(labels)
    check_lengths(n, len(labels), what)
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in labels):
        raise ValueError("A label is missing (None or NaN): every support example needs its class.")
    classes = sorted(set(labels), key=str)
    if len(classes) < 2:
        raise ValueError(f"The support has one class ({classes[0]!r}): calibration needs at least two classes.")
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[v] for v in labels], dtype=np.int64), classes
