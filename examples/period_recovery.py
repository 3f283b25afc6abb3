"""How often the period search finds the true period on ASAS's real cadence.

Signals of known period from the simulator's periodic classes (``sciml.astro.simulate.CLASSES``,
strictly periodic ones) are injected into the real time stamps of ASAS curves, with noise at
each curve's quoted errors; the periods are then found as the features pipeline finds them
(sigma clipping, coarse-to-fine Lomb-Scargle from 0.05 d, period doubling). Each miss is sorted
into a daily alias (``1/P`` off by a whole number of cycles per day), a factor of 2 or 3, or
below the search's shortest period. Run (needs SCIML_DATA_DIR):

    python examples/period_recovery.py [--every 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import pandas as pd

from sciml.astro.lightcurve import LightCurve, find_period, resolve_period_doubling, sigma_clip
from sciml.astro.simulate import CLASSES
from sciml.data.astro import iter_asas

MIN_PERIOD = 0.05
"""Shortest trial period of the features pipeline [d]."""


def outcome(true: float, found: float, baseline: float) -> str:
    """How the found period relates to the true one (``1/baseline`` is the peak width)."""
    df = 1.0 / found - 1.0 / true
    if abs(df) < 1.0 / baseline:
        return "right"
    if true < MIN_PERIOD:
        return "below the search floor"
    if round(df) != 0 and abs(df - round(df)) < 1.0 / baseline:
        return "daily alias"
    for m in (2, 3):
        if abs(found / true - m) < 0.01 or abs(found / true - 1.0 / m) < 0.01:
            return f"factor {m}"
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=3, help="use every n-th ASAS curve's time stamps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    names = [n for n, c in CLASSES.items() if c.period_d is not None and c.irregular == 0]
    rows = []
    for _, _, frame in itertools.islice(iter_asas(), 0, None, args.every):
        t = frame.t.to_numpy(float)
        err = np.clip(frame.err.to_numpy(float), 0.005, None)
        name = names[rng.integers(len(names))]
        c = CLASSES[name]
        period = float(np.exp(rng.uniform(np.log(c.period_d[0]), np.log(c.period_d[1]))))
        bright = c.shape(np.mod(t / period + rng.uniform(), 1.0), rng)
        mag = 12.0 - rng.uniform(*c.amplitude_mag) * bright + rng.normal(0.0, 1.0, len(t)) * err
        lc = sigma_clip(LightCurve.unsorted(t, mag, err))
        found = resolve_period_doubling(lc, find_period(lc, min_period=MIN_PERIOD)).period
        rows.append({"class": name, "outcome": outcome(period, found, lc.baseline)})
    table = pd.crosstab(pd.DataFrame(rows)["class"], pd.DataFrame(rows)["outcome"], margins=True, margins_name="all")
    print(f"{len(rows)} ASAS cadences, one injected signal each (seed {args.seed})")
    print(table.to_string())


if __name__ == "__main__":
    main()
