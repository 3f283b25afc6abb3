"""ASAS and HTRU2 loaders on the reference data."""

from __future__ import annotations

import pytest

from sciml.data import reference_file
from sciml.data.astro import HTRU2_FEATURES, asas_labels, iter_asas, load_htru2


def test_htru2() -> None:
    if reference_file("astro/htru2/HTRU_2.csv") is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding astro/htru2/HTRU_2.csv")
    x, y = load_htru2()
    assert x.shape == (17898, len(HTRU2_FEATURES)) and int(y.sum()) == 1639


def test_asas() -> None:
    if reference_file("astro/asas/asas_training_set.tar.gz") is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding astro/asas/")
    labels = asas_labels()
    assert len(labels) == 810 and labels.label.nunique() == 28
    _star, label, df = next(iter_asas())
    assert label in set(labels.label) and list(df.columns) == ["t", "mag", "err"] and len(df) >= 50
