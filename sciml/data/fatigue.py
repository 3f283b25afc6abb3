"""Fatigue crack growth: Forman parameters of 22 aluminium alloys and one measured da/dN table.

Sources (see ``datasets/fatigue-crack-growth``): the Forman parameter sets that the easigrow
crack-growth program (MIT licence) quotes from Schwarmann (1986), as a CSV; and the da/dN versus
Delta K table of AA7050-T7451 at nine stress ratios that easigrow ships (``barter14.dadn``,
"dadn-delta_K data that fits to the Barter14 coupon data"), in long form.
"""

from __future__ import annotations

import pandas as pd

from sciml.data.download import fetch

_LOCAL = "kinetics/other_laws/fatigue_easigrow/"
FORMAN_FILE = _LOCAL + "forman_params_schwarmann86_from_easigrow.csv"
FORMAN_SHA256 = "f1970bbc14173a344d006084b6f1bbc62e74f82a2ef3e226b6ebccbf7120e7de"
DADN_FILE = _LOCAL + "barter14_AA7050T7451_dadn_long.csv"
DADN_SHA256 = "7d4b45727f2f54cba3ed040f398d2d8c5b22799dc3de559616d0295788153a00"

FORMAN_COLUMNS = ["material", "C", "n", "Kc", "cite"]
"""Columns of :func:`load_forman_parameters`: ``C`` [(m/cycle) (MPa sqrt(m))^(1 - n)], ``n`` [1],
``Kc`` [MPa sqrt(m)]."""

DADN_COLUMNS = ["material", "delta_K", "R", "dadn"]
"""Columns of :func:`load_crack_growth`: ``delta_K`` [MPa sqrt(m)], ``R`` [1], ``dadn`` [m/cycle]."""

MAX_FORMAN_EXPONENT = 10.0
"""Forman exponents of metals lie between about 1.5 and 5; a value above this is a swapped cell."""


def load_forman_parameters() -> pd.DataFrame:
    """The 22 Forman parameter sets (Schwarmann 1986, as quoted by easigrow).

    One row is repaired, and reported in ``attrs["cells"]``: ``aa6061t6-sheet`` reads
    ``n = 60.1, Kc = 1.66``, a Forman exponent no metal has and a toughness a twentieth of
    every other alloy's; the two cells are swapped back (``n = 1.66``, ``Kc = 60.1``), as later
    easigrow versions list them.

    Returns:
        Columns :data:`FORMAN_COLUMNS`; ``attrs["cells"]``: one row per repaired cell
        (``material, column, read, used, rule``); ``attrs["files"]``: the file read.

    Raises:
        ValueError: for a missing column or a row that no rule explains.
    """
    path = fetch(FORMAN_FILE, "", FORMAN_SHA256)
    df = pd.read_csv(path)
    missing = sorted(set(FORMAN_COLUMNS) - set(df.columns))
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; expected {FORMAN_COLUMNS}.")
    df = df[FORMAN_COLUMNS].copy()
    cells = []
    for i, row in df.iterrows():
        if row.n > MAX_FORMAN_EXPONENT and row.Kc < MAX_FORMAN_EXPONENT:
            rule = "n and Kc swapped (n above 10, Kc below 10 MPa sqrt(m)): swapped back"
            cells += [{"material": row.material, "column": "n", "read": row.n, "used": row.Kc, "rule": rule},
                      {"material": row.material, "column": "Kc", "read": row.Kc, "used": row.n, "rule": rule}]
            df.loc[i, ["n", "Kc"]] = [row.Kc, row.n]
        elif not (0 < row.n <= MAX_FORMAN_EXPONENT and row.Kc > 0 and row.C > 0):
            raise ValueError(f"{path}: row {row.material!r} has C = {row.C}, n = {row.n}, Kc = {row.Kc}, which no repair rule explains.")
    df.attrs["cells"] = pd.DataFrame(cells, columns=["material", "column", "read", "used", "rule"])
    df.attrs["files"] = {"forman_parameters": path}
    return df


def load_crack_growth() -> pd.DataFrame:
    """Crack growth rate of AA7050-T7451 versus Delta K at stress ratios R = 0 to 0.8.

    A smoothed table (14 rates from 1e-12 to 1e-5 m/cycle per R), not individual coupon
    measurements: points of one curve are not independent measurements.

    Returns:
        Columns :data:`DADN_COLUMNS`, one row per (R, rate); ``attrs["files"]``: the file read.
    """
    path = fetch(DADN_FILE, "", DADN_SHA256)
    raw = pd.read_csv(path)
    expected = {"dadn_m_per_cycle", "R", "deltaK_MPa_sqrt_m"}
    if expected - set(raw.columns):
        raise ValueError(f"{path}: expected columns {sorted(expected)}, got {list(raw.columns)}.")
    df = pd.DataFrame({"material": "AA7050-T7451", "delta_K": raw.deltaK_MPa_sqrt_m.astype(float), "R": raw.R.astype(float),
                       "dadn": raw.dadn_m_per_cycle.astype(float)})
    df.attrs["files"] = {"crack_growth": path}
    return df
