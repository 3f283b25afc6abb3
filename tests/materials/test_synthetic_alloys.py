"""The synthetic alloy family: literature ranges, grouping, realistic windows."""

from __future__ import annotations

import numpy as np
import pytest

from sciml.data.paths import reference_file
from sciml.materials import FAMILIES, SyntheticAlloyFamily
from sciml.materials.synthetic_alloys import check_families_against_table


def test_ranges_match_the_literature_table() -> None:
    path = reference_file("kinetics/jmak_prior_families.csv")
    if path is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding kinetics/jmak_prior_families.csv")
    assert check_families_against_table(path) == list(FAMILIES)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_truths_stay_inside_published_ranges(name: str) -> None:
    fam = SyntheticAlloyFamily(name)
    truths = fam.sample_truths(300, seed=1)
    spec = fam.spec
    assert all(spec.n_range[0] <= t.n <= spec.n_range[1] for t in truths)
    assert all(spec.Q_range[0] <= t.Q_kJmol <= spec.Q_range[1] for t in truths)
    if spec.Q_range[1] - spec.Q_range[0] > 50:
        # Q drawn with the rate at T_ref reproduces the ln k0 - Q collinearity of real fits
        assert np.corrcoef([t.ln_k0 for t in truths], [t.Q_kJmol for t in truths])[0, 1] > 0.9


def test_tasks_group_isotherms_by_alloy_and_carry_truth() -> None:
    fam = SyntheticAlloyFamily(temperatures_per_alloy=3, points_per_isotherm=8)
    ts = fam.tasks(10, seed=0)
    assert len(ts) == 30 and len(ts.groups) == 10
    t = ts[0]
    assert t.data.x.shape == (8, 2) and t.metadata["units"]["time"] == "s"
    assert {"n", "Q_kJmol", "t50_s", "temperature_K"} <= set(t.metadata)
    x = t.data.x
    lo, hi = fam.spec.T_window_C
    assert lo + 273.15 <= float(x[0, 1]) <= hi + 273.15
    assert (0 <= t.data.y).all() and (t.data.y <= 1).all()
    again = fam.tasks(10, seed=0)
    assert again.names == ts.names


def test_unknown_family_is_rejected() -> None:
    with pytest.raises(KeyError, match="choose from"):
        SyntheticAlloyFamily("Ni_superalloy")
