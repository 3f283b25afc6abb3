"""Fatigue loaders: the Forman table's swapped cells, the da/dN table."""

from __future__ import annotations

import pytest

from sciml.data import reference_file
from sciml.data.fatigue import DADN_FILE, FORMAN_FILE, load_crack_growth, load_forman_parameters


@pytest.fixture(autouse=True)
def _needs_data() -> None:
    if reference_file(FORMAN_FILE) is None or reference_file(DADN_FILE) is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding kinetics/other_laws/fatigue_easigrow/")


def test_the_forman_table_is_read_with_its_swapped_cells_repaired_and_reported() -> None:
    df = load_forman_parameters()
    assert len(df) == 22 and df.material.is_unique
    row = df[df.material == "aa6061t6-sheet"].iloc[0]
    assert (row.n, row.Kc) == (1.66, 60.1)  # read as n = 60.1, Kc = 1.66
    cells = df.attrs["cells"]
    assert set(cells.material) == {"aa6061t6-sheet"} and set(cells.column) == {"n", "Kc"}
    assert dict(zip(cells.column, cells.read)) == {"n": 60.1, "Kc": 1.66}
    assert df.n.between(1.5, 4.0).all() and df.Kc.between(25.0, 100.0).all()
    t3 = df[df.material == "aa2024t3-sheet"].iloc[0]
    assert (t3.C, t3.n, t3.Kc) == (7.13e-9, 2.7, 71.3)


def test_the_crack_growth_table_has_nine_stress_ratios() -> None:
    df = load_crack_growth()
    assert len(df) == 126 and sorted(df.R.unique()) == pytest.approx([0.1 * i for i in range(9)])
    assert df.dadn.min() == pytest.approx(1e-12) and df.dadn.max() == pytest.approx(1e-5)
    # the .dadn file's first row: 1e-12 m/cycle at Delta K = 0.45 (R = 0) and 0.33 (R = 0.8) MPa sqrt(m)
    first = df[df.dadn == df.dadn.min()].set_index("R").delta_K
    assert first[0.0] == pytest.approx(0.45) and first.iloc[-1] == pytest.approx(0.33)
