"""Fatigue crack growth of a new aluminium alloy from a few da/dN points, with a prior from the literature.

The prior over Forman's constants comes from the 22 alloys Schwarmann (1986) tabulates (as quoted
by easigrow), leaving out the held-out alloy's family (AA7050); it is judged on AA7050-T7451's
da/dN table against ``curve_fit`` of the same points. Run (needs SCIML_DATA_DIR):

    python examples/forman_literature_prior.py [--noise-sd 0.2] [--min-rate 1e-9] [--save priors/forman-aluminium]

Prints the median RMSE of log10 da/dN on the other points and the 90% band coverage, over 20
random draws per k. One alloy, and a smoothed table rather than coupon data: a demonstration of
the API, not a benchmark (see ``sciml.materials.crack_growth``).

``--save`` writes the prior of all 22 alloys as a prior folder: calibrate it on your own rates
with ``sciml calibrate priors/forman-aluminium my_rates.csv``, the CSV holding columns such as
``delta K [ksi sqrt(in)]``, ``R`` and ``da/dN [in/cycle]``.
"""

from __future__ import annotations

import argparse

from sciml.data.fatigue import load_crack_growth, load_forman_parameters
from sciml.materials.crack_growth import calibrate_from_few_points, crack_growth_task, literature_law_prior


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise-sd", type=float, default=0.2, help="assumed scatter of log10 da/dN [decades]")
    parser.add_argument("--min-rate", type=float, default=0.0,
                        help="keep rates at or above this [m/cycle] (Forman has no threshold: 1e-9 keeps regions II-III)")
    parser.add_argument("--save", help="also save the prior of all alloys to this folder")
    args = parser.parse_args()
    constants = load_forman_parameters()
    for cell in constants.attrs["cells"].itertuples():
        print(f"repaired: {cell.material} {cell.column} read {cell.read}, used {cell.used} ({cell.rule})")
    others = constants[~constants.material.str.startswith("aa7050")]
    table = load_crack_growth()
    table = table[table.dadn >= args.min_rate]
    results = calibrate_from_few_points(crack_growth_task(table), others, noise_sd=args.noise_sd)
    summary = results.groupby(["learner", "shots", "metric"]).value.median().unstack("metric")
    print(f"AA7050-T7451, {len(table)} rates; prior from {len(others)} alloys; assumed scatter {args.noise_sd} decades")
    print(summary.round(3).to_string())
    if args.save:
        path = literature_law_prior(constants, args.noise_sd).save(args.save)
        print(f"prior of all {len(constants)} alloys saved: {path} (sciml calibrate {path} my_rates.csv)")


if __name__ == "__main__":
    main()
