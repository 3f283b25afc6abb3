"""Minimum creep rates of pure tungsten sheet: one source calibrated from a few tests, the other as prior.

Only two sources in the creep data report minimum creep rates (McCoy: 21 tests, Flagella: 95),
both on pure tungsten sheet, so there is no leave-one-material-out protocol for Norton's law: each
source is held out in turn, the other one's Norton fit is the starting point (and, with the
Gauss-Newton calibration, the proximal pull), and the held-out source is calibrated from k random
tests and judged on its other tests, against a Norton fit of the same k tests alone. Run (needs
SCIML_DATA_DIR):

    python examples/norton_two_sources.py [--draws 20]

Prints the median error of log10 minimum creep rate [decades], the share diverged (off by more
than a factor of 10 on average) and the 90% band coverage (noise: the RMS residual of the other
source's full fit).
"""

from __future__ import annotations

import argparse

from sciml.data.creep import load_creep_rupture
from sciml.materials.creep import leave_one_material_out, norton_tasks, pooled_fit
from sciml.meta import CurveFit, FineTune
from sciml.models.laws import Norton

GAUSS_NEWTON = {"inner_optimizer": "gauss_newton", "inner_lr": 1.0, "inner_steps": 10, "inner_damping": 0.01, "inner_prior_precision": 0.01}
"""The calibration of the creep-rupture study's priors."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=20, help="random draws of k tests per source")
    args = parser.parse_args()
    tasks = norton_tasks(load_creep_rupture())
    learners = {
        "Norton fit of the k tests": lambda train: CurveFit(Norton().double()),
        "other source's fit": lambda train: FineTune(pooled_fit(train, Norton()), inner_steps=0),
        "other source's fit + Gauss-Newton": lambda train: FineTune(pooled_fit(train, Norton()), **GAUSS_NEWTON),
    }
    bench = leave_one_material_out(tasks, learners, fit={"iterations": 0, "seed": 0}, law=Norton(), shots=(2, 3, 5),
                                   seeds=range(args.draws), dataset="tungsten-norton", target="rate")
    rows = bench.results
    table = rows.groupby(["learner", "shots", "metric"], sort=False).value.median().unstack("metric")
    table["diverged"] = rows[rows.metric == "diverged"].groupby(["learner", "shots"], sort=False).value.mean()
    table["coverage90"] = rows[rows.metric == "coverage90"].groupby(["learner", "shots"], sort=False).value.mean()
    print(f"{', '.join(f'{t.name} ({len(t)} tests)' for t in tasks)}; {args.draws} draws per k; noise sd per held-out source "
          + ", ".join(f"{k} {v:.3f}" for k, v in bench.details["noise_sd"].items()))
    print("median log10 rate error [decades], share diverged, mean 90% coverage:")
    print(table[["log10_rate_error", "diverged", "coverage90"]].round(3).to_string())


if __name__ == "__main__":
    main()
