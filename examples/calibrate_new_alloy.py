"""Calibrate a new tungsten grade from three measurements with a meta-learned prior.

Copy this script, replace the three measurements below with yours, and run:

    python examples/calibrate_new_alloy.py --prior studies/jmak-tungsten/runs/<run>/checkpoints/prior-all-materials

Without ``--prior`` the script meta-learns a prior from the published tungsten data first
(needs SCIML_DATA_DIR or network access; about a minute). It prints the calibrated parameters
with 90% intervals, ranks candidate next measurements by how much they would narrow the t50
interval, and saves a plot with 90% predictive bands.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from sciml.meta import MAML, Learner
from sciml.models.laws import JMAKArrhenius
from sciml.tasks import TensorData

# ---- your measurements: anneal time [h], temperature [C], recrystallized fraction X [0-1] ----
MEASURED = [
    (1.0, 1250.0, 0.05),
    (4.0, 1250.0, 0.42),
    (8.0, 1250.0, 0.78),
]
# ---- candidate next experiments: times [h] at these temperatures [C] ----
CANDIDATE_TIMES_H = [0.5, 2.0, 12.0, 24.0, 48.0]
CANDIDATE_TEMPERATURES_C = [1200.0, 1250.0, 1300.0]


def learn_prior() -> tuple[Learner, float]:
    """Meta-learn a JMAK-Arrhenius prior on all documented tungsten materials."""
    from sciml.data import load_recrystallization
    from sciml.materials.recrystallization import fit_reference, material_tasks

    tasks = material_tasks(load_recrystallization())
    law = JMAKArrhenius(T_ref=1573.15, k_ref=1e-4, Q=400.0, n=1.5).double()
    prior = MAML(law, inner_optimizer="gauss_newton", inner_lr=1.0, inner_steps=10, inner_damping=0.01,
                 inner_prior_precision=0.01, first_order=True, outer_lr=0.01, meta_batch_size=8)
    prior.fit(tasks, iterations=300, shots=[2, 3, 5, 8], query_size=20)
    noise = float(np.sqrt(np.mean([fit_reference(t, law)["rmse"] ** 2 for t in tasks])))
    return prior, noise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", type=Path, help="checkpoint folder written by the jmak-tungsten study")
    parser.add_argument("--plot", type=Path, default=Path("calibrated_alloy.png"))
    args = parser.parse_args()
    if args.prior:
        prior = Learner.load(args.prior)
        noise_sd = float((args.prior / "noise_sd.txt").read_text()) if (args.prior / "noise_sd.txt").exists() else 0.1
    else:
        prior, noise_sd = learn_prior()
    law = prior.model

    x = torch.tensor([[h * 3600.0, c + 273.15] for h, c, _ in MEASURED], dtype=torch.float64)
    y = torch.tensor([v for *_, v in MEASURED], dtype=torch.float64)
    support = TensorData(x, y)
    alloy = prior.adapt(support)
    posterior = prior.posterior(alloy, support, noise_sd)

    print(f"Calibrated from {len(MEASURED)} points (noise sd {noise_sd:.3f}); 90% intervals:")
    print(posterior.physical_intervals(0.9).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    for c in CANDIDATE_TEMPERATURES_C:
        t50, lo, hi = posterior.interval(lambda p, T=c + 273.15: law.t50(T, p))
        print(f"t50 at {c:.0f} C: {t50 / 3600:.3g} h  [{lo / 3600:.3g}, {hi / 3600:.3g}] h")

    t_target = MEASURED[0][1] + 273.15
    candidates = torch.tensor([[h * 3600.0, c + 273.15] for c in CANDIDATE_TEMPERATURES_C for h in CANDIDATE_TIMES_H], dtype=torch.float64)
    ranking = posterior.suggest_next(candidates, lambda p: law.t50(t_target, p))
    best = candidates[int(ranking.iloc[0]["index"])]
    print(f"Next measurement: anneal {float(best[0]) / 3600:.3g} h at {float(best[1]) - 273.15:.0f} C "
          f"(shrinks the variance of log t50 at {t_target - 273.15:.0f} C from {ranking.iloc[0].variance_before:.3g} "
          f"to {ranking.iloc[0].variance_after:.3g}).")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    hours = torch.logspace(-1, 2.5, 200, dtype=torch.float64)
    for c, color in zip(CANDIDATE_TEMPERATURES_C, ["tab:blue", "tab:orange", "tab:red"]):
        xg = torch.stack([hours * 3600.0, torch.full_like(hours, c + 273.15)], 1)
        mean, lo, hi = posterior.predict(xg, level=0.9)
        ax.fill_between(hours, lo.clamp(0, 1), hi.clamp(0, 1), color=color, alpha=0.15)
        ax.plot(hours, mean, color=color, label=f"{c:.0f} C")
    ax.plot([h for h, *_ in MEASURED], y, "k*", ms=12, label="measured")
    ax.axvline(float(best[0]) / 3600, color="gray", ls=":", label="suggested next")
    ax.set_xscale("log")
    ax.set_xlabel("anneal time [h]")
    ax.set_ylabel("recrystallized fraction X")
    ax.legend(fontsize=8)
    fig.savefig(args.plot, dpi=120, bbox_inches="tight")
    print(f"Plot: {args.plot}")


if __name__ == "__main__":
    main()
