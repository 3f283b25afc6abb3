"""Which experiment next: sequential design by ``suggest_next``, a learned policy, random or
equally spaced choices, one measurement at a time among a material's candidate points."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from sciml.materials.kinetics import adapted_t50, kinetics_metrics
from sciml.materials.recrystallization import early_design
from sciml.tasks import Task

STRATEGIES = ("suggest_next", "random", "equally spaced", "learned")
"""Ways to pick the next measurement: the largest expected shrinkage of the variance of log t50
(greedy, one step ahead), uniformly at random, equally spaced in log time, or a
:class:`~sciml.materials.learned_design.DesignPolicy` (needs ``policy``)."""

LOG_ERROR_CAP = math.log(10.0)
"""Cap of the absolute log t50 error [ln units]: a t50 off by 10x or more (a diverged
calibration, or NaN) counts as ln 10, so one failure does not swamp a mean."""


@dataclass(frozen=True)
class DesignEpisode:
    """One material designed one measurement at a time.

    Attributes:
        strategy: One of :data:`STRATEGIES`.
        seed: Seed of the random draws (``random``, or a sampled learned policy).
        shots: Measured points after each addition, ``start_shots .. start_shots + added``.
        t50_rel_error: ``|t50 / t50_ref - 1|`` (mean over the material's temperatures) at each
            entry of ``shots``; ``inf`` for a failed calibration.
        t50_log_error: ``|ln(t50 / t50_ref)|`` (mean over temperatures, each capped at
            :data:`LOG_ERROR_CAP`) at each entry of ``shots``.
        picked: The added measurements' inputs in order, ``[added, 2]`` (time [s], temperature [K]).
        log_prob: Sum of the log-probabilities of a sampled learned policy's picks (with its
            autograd graph, for policy gradients); ``None`` otherwise.
    """

    strategy: str
    seed: int
    shots: list[int]
    t50_rel_error: list[float]
    t50_log_error: list[float]
    picked: Tensor
    log_prob: Tensor | None = None


def t50_log_error(adapted: Any, task: Task) -> float:
    """``|ln(t50 / t50_ref)|`` of a calibrated JMAK-Arrhenius law, mean over the task's
    ``temperatures_K`` against its ``t50_s`` list, each capped at :data:`LOG_ERROR_CAP`."""
    errs = []
    for temp, ref in zip(task.metadata["temperatures_K"], task.metadata["t50_s"]):
        t50 = adapted_t50(adapted, temp, 2)
        err = abs(math.log(t50 / ref)) if t50 > 0 and math.isfinite(t50) else LOG_ERROR_CAP
        errs.append(min(err, LOG_ERROR_CAP))
    return sum(errs) / len(errs)


def design_episode(
    learner: Any,
    task: Task,
    noise_sd: float,
    strategy: str,
    *,
    start_shots: int = 3,
    added: int = 5,
    seed: int = 0,
    policy: Any = None,
    sample: bool = False,
) -> DesignEpisode:
    """Start from a material's ``start_shots`` earliest points and add ``added`` of its other
    points one at a time by ``strategy``, recalibrating after each; the t50 error against the
    task's reference is recorded after each addition.

    Args:
        learner: A law learner with ``adapt`` and ``posterior`` (JMAK-Arrhenius law, inputs
            ``[n, 2]`` time [s] and temperature [K]).
        task: A material task with ``temperatures_K`` and the reference ``t50_s`` (one per
            temperature) in metadata (:func:`~sciml.materials.recrystallization.with_reference`,
            or the truth of a synthetic alloy); its points are the candidates.
        noise_sd: Measurement noise sd of the fraction [1] (from training materials only).
        strategy: One of :data:`STRATEGIES`.
        start_shots: Earliest points to start from.
        added: Points to add (fewer when the candidates run out).
        seed: Seed of the random strategy, or of a sampled policy.
        policy: A :class:`~sciml.materials.learned_design.DesignPolicy` (``learned`` only).
        sample: ``learned`` only: draw each pick from the policy's distribution (training)
            instead of taking its best-scored candidate, and keep the log-probabilities.

    Returns:
        The :class:`DesignEpisode`.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}; choose from {STRATEGIES}.")
    if strategy == "learned" and policy is None:
        raise ValueError("The 'learned' strategy needs a policy (sciml.materials.learned_design.DesignPolicy).")
    if added < 0:
        raise ValueError(f"added must be >= 0, got {added}.")
    missing = [key for key in ("temperatures_K", "t50_s") if not isinstance(task.metadata.get(key), (list, tuple))]
    if missing:
        raise ValueError(f"Task {task.name!r} needs the lists {missing} in its metadata (a material task with its reference: "
                         "sciml.materials.recrystallization.with_reference).")
    law = learner.model
    metric = kinetics_metrics(temperature_key="temperatures_K")["t50_rel_error"]
    t_mid = float(np.median(task.metadata["temperatures_K"]))
    split = early_design(task, start_shots)
    support, pool = split.support, split.query
    g = torch.Generator().manual_seed(seed)
    order = torch.argsort(pool.x[:, 0].log())
    grid = [int(order[round(q)]) for q in np.linspace(0, len(order) - 1, max(added, 1))]
    shots, rel, log_err, picked, log_prob = [], [], [], [], None
    for step in range(added + 1):
        ad = learner.adapt(support)
        shots.append(len(support))
        rel.append(metric(ad, split.with_split(support, pool)))
        log_err.append(t50_log_error(ad, task))
        if step == added or len(pool) == 0:
            break
        if strategy == "suggest_next":
            ranking = learner.posterior(ad, support, noise_sd).suggest_next(pool.x.double(), lambda p: law.t50(t_mid, p))
            pick = int(ranking.iloc[0]["index"])
        elif strategy == "random":
            pick = int(torch.randint(len(pool), (1,), generator=g))
        elif strategy == "equally spaced":
            target = float(split.query.x[grid[step], 0])
            pick = int(torch.argmin((pool.x[:, 0].log() - math.log(max(target, 1e-6))).abs()))
        else:
            from sciml.materials.learned_design import candidate_features

            posterior = learner.posterior(ad, support, noise_sd)
            feats = candidate_features(posterior, pool.x.double(), support.x.double(), t_mid, (added - step) / added)
            logp = torch.log_softmax(policy(feats.to(policy.dtype)), dim=0)
            if sample:
                pick = int(torch.multinomial(logp.detach().exp(), 1, generator=g))
                log_prob = logp[pick] if log_prob is None else log_prob + logp[pick]
            else:
                pick = int(torch.argmax(logp))
        picked.append(pool.x[pick].double())
        keep = torch.ones(len(pool), dtype=torch.bool)
        keep[pick] = False
        support = support.concat(pool.subset([pick]))
        pool = pool.subset(torch.nonzero(keep).flatten())
    return DesignEpisode(strategy, seed, shots, rel, log_err, torch.stack(picked) if picked else torch.zeros(0, 2, dtype=torch.float64),
                         log_prob)


def sequential_design(
    learner: Any,
    task: Task,
    noise_sd: float,
    *,
    start_shots: int = 3,
    added: int = 5,
    seeds: Sequence[int] = (0,),
    strategies: Sequence[str] | None = None,
    policy: Any = None,
) -> pd.DataFrame:
    """Start from a material's ``start_shots`` earliest points and add its other measured points
    one at a time, chosen by ``suggest_next`` (the largest expected shrinkage of the posterior
    variance of log t50 at the material's median temperature), a learned policy, at random, or
    equally spaced in log time; the t50 error against the task's reference is recorded after
    each addition (:func:`design_episode`).

    Args:
        learner: A law learner with ``adapt`` and ``posterior`` (JMAK-Arrhenius law).
        task: A material task with ``temperatures_K`` and the reference ``t50_s`` in metadata
            (:func:`~sciml.materials.recrystallization.with_reference`).
        noise_sd: Measurement noise (from training materials only).
        start_shots: Earliest points to start from.
        added: Points to add.
        seeds: Draws of the random strategy (the others are deterministic).
        strategies: Any of :data:`STRATEGIES`; default: all of them, ``learned`` only when a
            ``policy`` is given.
        policy: A trained :class:`~sciml.materials.learned_design.DesignPolicy` for ``learned``.

    Returns:
        Columns ``strategy, seed, shots, t50_rel_error, t50_log_error``.
    """
    if strategies is None:
        strategies = [s for s in STRATEGIES if s != "learned" or policy is not None]
    unknown = set(strategies) - set(STRATEGIES)
    if unknown:
        raise ValueError(f"Unknown strategies {sorted(unknown)}; choose from {STRATEGIES}.")
    rows = []
    for strategy in strategies:
        for seed in seeds if strategy == "random" else [0]:
            ep = design_episode(learner, task, noise_sd, strategy, start_shots=start_shots, added=added, seed=seed, policy=policy)
            rows += [(strategy, seed, *r) for r in zip(ep.shots, ep.t50_rel_error, ep.t50_log_error)]
    return pd.DataFrame(rows, columns=["strategy", "seed", "shots", "t50_rel_error", "t50_log_error"])


def sequential_rows(table: pd.DataFrame, task: Task, learner: str, *, study: str, dataset: str, steps: int,
                    metrics: Sequence[str] = ("t50_rel_error",)) -> pd.DataFrame:
    """:func:`sequential_design` output of one task as result rows (columns
    :data:`~sciml.evaluation.protocol.RESULT_COLUMNS`, learner ``<learner>/<strategy>``), one row
    per strategy, draw, measured-point count and metric in ``metrics``."""
    return pd.concat([pd.DataFrame({
        "study": study, "dataset": dataset, "learner": learner + "/" + table.strategy, "task": task.name, "group": task.group,
        "shots": table.shots, "steps": steps, "seed": table.seed, "metric": metric, "value": table[metric]}) for metric in metrics],
        ignore_index=True)


def _errors_by_strategy(rows: pd.DataFrame) -> pd.DataFrame:
    """The ``t50_rel_error`` rows of :func:`sequential_rows`, with their ``strategy``."""
    return rows[rows.metric == "t50_rel_error"].assign(strategy=lambda d: d.learner.str.split("/").str[1])


def design_tables(rows: pd.DataFrame, within: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Median t50 error, and the share of materials within ``within`` of the reference t50, per
    strategy (rows) and measured points (columns) of :func:`sequential_rows`; random draws are
    pooled with the materials."""
    rel = _errors_by_strategy(rows)
    order = [s for s in STRATEGIES if s in set(rel.strategy)]
    median = rel.groupby(["strategy", "shots"]).value.median().unstack("shots").reindex(order)
    share = rel.assign(ok=rel.value <= within).groupby(["strategy", "shots"]).ok.mean().unstack("shots").reindex(order)
    return median, share


def paired_wins(rows: pd.DataFrame, against: str = "suggest_next") -> pd.DataFrame:
    """The learned policy against another deterministic strategy, material by material, in rows of
    :func:`sequential_rows`: at each measured-point count, how many materials it leaves with a
    smaller, equal (within 1e-9) or larger t50 error, and the median ratio of the two errors."""
    rel = _errors_by_strategy(rows)
    wide = rel[rel.strategy.isin(["learned", against])].pivot_table(index=["task", "shots"], columns="strategy", values="value")
    wide = wide.dropna()
    diff = wide["learned"] - wide[against]
    out = pd.DataFrame({"better": diff < -1e-9, "equal": diff.abs() <= 1e-9, "worse": diff > 1e-9,
                        "ratio": wide["learned"] / wide[against]}).groupby("shots")
    table = out[["better", "equal", "worse"]].sum().astype(int)
    table["median error ratio"] = out.ratio.median()
    return table.reset_index()
