"""Which experiment next: sequential design compared with random and equally spaced choices."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from sciml.materials.kinetics import kinetics_metrics
from sciml.materials.recrystallization import early_design
from sciml.tasks import Task

STRATEGIES = ("suggest_next", "random", "equally spaced")


def sequential_design(
    learner: Any,
    task: Task,
    noise_sd: float,
    *,
    start_shots: int = 3,
    added: int = 5,
    seeds: Sequence[int] = (0,),
    strategies: Sequence[str] = STRATEGIES,
) -> pd.DataFrame:
    """Start from a material's ``start_shots`` earliest points and add its other measured points
    one at a time, chosen by ``suggest_next`` (the largest expected shrinkage of the posterior
    variance of log t50 at the material's median temperature), at random, or equally spaced in
    log time; the t50 error against the full-data fit is recorded after each addition.

    Args:
        learner: A law learner with ``adapt`` and ``posterior`` (JMAK-Arrhenius law).
        task: A material task with ``temperatures_K`` and the reference ``t50_s`` in metadata
            (:func:`~sciml.materials.recrystallization.with_reference`).
        noise_sd: Measurement noise (from training materials only).
        start_shots: Earliest points to start from.
        added: Points to add.
        seeds: Draws of the random strategy (the others are deterministic).
        strategies: Any of :data:`STRATEGIES`.

    Returns:
        Columns ``strategy, seed, shots, t50_rel_error``.
    """
    unknown = set(strategies) - set(STRATEGIES)
    if unknown:
        raise ValueError(f"Unknown strategies {sorted(unknown)}; choose from {STRATEGIES}.")
    law = learner.model
    metric = kinetics_metrics(temperature_key="temperatures_K")["t50_rel_error"]
    t_mid = float(np.median(task.metadata["temperatures_K"]))
    rows = []
    for strategy in strategies:
        for seed in seeds if strategy == "random" else [0]:
            split = early_design(task, start_shots)
            support, pool = split.support, split.query
            g = torch.Generator().manual_seed(seed)
            order = torch.argsort(pool.x[:, 0].log())
            grid = [int(order[round(q)]) for q in np.linspace(0, len(order) - 1, added)]
            for step in range(added + 1):
                ad = learner.adapt(support)
                rows.append((strategy, seed, len(support), metric(ad, split.with_split(support, pool))))
                if step == added or len(pool) == 0:
                    break
                if strategy == "suggest_next":
                    ranking = learner.posterior(ad, support, noise_sd).suggest_next(pool.x.double(), lambda p: law.t50(t_mid, p))
                    pick = int(ranking.iloc[0]["index"])
                elif strategy == "random":
                    pick = int(torch.randint(len(pool), (1,), generator=g))
                else:
                    target = float(split.query.x[grid[step], 0])
                    pick = int(torch.argmin((pool.x[:, 0].log() - math.log(max(target, 1e-6))).abs()))
                keep = torch.ones(len(pool), dtype=torch.bool)
                keep[pick] = False
                support = support.concat(pool.subset([pick]))
                pool = pool.subset(torch.nonzero(keep).flatten())
    return pd.DataFrame(rows, columns=["strategy", "seed", "shots", "t50_rel_error"])
