"""What a benchmark protocol returns: the results table, the training curves and the trained
learners, so that a script and a study read the same object."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sciml.tasks import Task

Log = Callable[[str], None]
"""Progress callback: one line of text per step of a protocol."""


def quiet(message: str) -> None:
    """The default :data:`Log`: say nothing."""


@dataclass
class BenchmarkResult:
    """The outcome of one benchmark protocol.

    Attributes:
        results: Rows in the results format (:data:`~sciml.evaluation.protocol.RESULT_COLUMNS`),
            plus any protocol-specific columns the protocol documents.
        histories: Training curves (``Learner.history_``), by a label naming the learner and,
            where one learner is trained several times, the run.
        learners: Trained learners worth keeping, by label (e.g. the one a study saves as its
            prior).
        details: Protocol-specific extras that a report needs (splits, chosen settings), each
            documented by the protocol that fills it.
    """

    results: pd.DataFrame
    histories: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    learners: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def fit_and_evaluate(
    learners: Mapping[str, Callable[[], Any]],
    train: Any,
    test: Sequence[Task],
    *,
    fit: Mapping[str, Any],
    shots: Sequence[int],
    seeds: Sequence[int] = (0,),
    steps: Sequence[int] | None = None,
    metrics: Mapping[str, Any] | None = None,
    learner_metrics: Callable[[Any], Mapping[str, Any]] | None = None,
    val: Sequence[Task] | None = None,
    init_seed: int | None = None,
    fit_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    unfitted: Sequence[str] = (),
    test_for: Mapping[str, Sequence[Task]] | None = None,
    query_size: int | None = None,
    study: str = "",
    dataset: str = "",
    log: Log = quiet,
) -> BenchmarkResult:
    """Meta-train each learner on the same training tasks and evaluate it on the same test tasks.

    Args:
        learners: Label -> a function returning a fresh learner; called right after
            ``torch.manual_seed(init_seed)`` so every label starts from a seeded initialization.
        train: Training tasks (a :class:`~sciml.tasks.TaskSet` or an episode source).
        test: Test tasks.
        fit: ``Learner.fit`` arguments shared by every learner (``iterations``, ``shots``, ``seed``, ...).
        shots: Support sizes of the evaluation.
        seeds: Seeds of the support draws.
        steps: Inner-step counts of the evaluation (default: each learner's own).
        metrics: ``name -> metric(adapted, task)`` (default: those of
            :func:`~sciml.evaluation.protocol.few_shot_results`).
        learner_metrics: Metrics that read the trained learner (e.g. its predictive
            distribution): ``learner_metrics(learner) -> {name: metric}``, added to ``metrics``
            for that learner (return ``{}`` where a learner has none; with ``metrics=None``
            they join the default regression metrics).
        val: Validation tasks for early stopping (never the test tasks).
        init_seed: Seed of the initialization (default: ``fit["seed"]``).
        fit_overrides: Label -> ``fit`` arguments that differ for that learner.
        unfitted: Labels that are not meta-trained (e.g. ``CurveFit``) and not seeded.
        test_for: Label -> the test tasks as that learner reads them (e.g. time-only inputs).
        query_size: Query points per test task (default: all but the support).
        study, dataset: Labels of the result rows.
        log: Progress callback.

    Returns:
        Result rows for every learner; ``learners`` holds every trained learner by label.
    """
    import torch

    from sciml.evaluation.metrics import REGRESSION_METRICS
    from sciml.evaluation.protocol import few_shot_results

    seed = fit.get("seed", 0) if init_seed is None else init_seed
    frames = []
    out = BenchmarkResult(pd.DataFrame())
    for label, make in learners.items():
        if label in unfitted:
            learner = make()
        else:
            torch.manual_seed(seed)
            learner = make()
            kwargs = {**fit, **(fit_overrides or {}).get(label, {})}
            log(f"meta-training {label} ({kwargs.get('iterations', '?')} iterations)")
            learner.fit(train, val, **kwargs)
            out.histories[label] = learner.history_
        out.learners[label] = learner
        tasks = (test_for or {}).get(label, test)
        extra = dict(learner_metrics(learner)) if learner_metrics is not None else {}
        chosen = {**(REGRESSION_METRICS if metrics is None else metrics), **extra} if extra else metrics
        log(f"calibrating {len(tasks)} test tasks with {label}")
        frames.append(few_shot_results(learner, tasks, shots=shots, steps=steps or [learner.inner_steps], seeds=seeds, metrics=chosen,
                                       query_size=query_size, study=study, dataset=dataset, learner_name=label))
    out.results = pd.concat(frames, ignore_index=True)
    return out
