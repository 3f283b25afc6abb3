"""Leave-one-group-out calibration of transformation kinetics: for every held-out material (or
its isotherms), learn priors on the other materials only, calibrate the held-out one from k of
its points and judge it against the fit to all its points, with 90% band coverage.

Example:
    >>> from sciml.materials.benchmark import leave_one_group_out
    >>> from sciml.meta.tables import build_learner
    >>> law = JMAKArrhenius(T_ref=1573.15).double()
    >>> bench = leave_one_group_out(material_tasks(df), {"MAML": lambda: build_learner("MAML", {"class": "MAML"}, law)[0]},
    ...                             law=law, fit={"iterations": 300, "shots": [2, 3], "query_size": 20, "seed": 0})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import torch
from torch import nn

from sciml.evaluation.benchmark import BenchmarkResult, Log, quiet
from sciml.meta import Learner
from sciml.tasks import Task, TaskSet


def calibrate_and_judge(learner: Learner, test: Sequence[Task], *, label: str, shots: Sequence[int], designs: Sequence[str],
                        seeds: Sequence[int], noise_sd: float, temperature_key: str, level: float = 0.9, dataset: str = "",
                        study: str = "") -> list[pd.DataFrame]:
    """Calibrate a trained learner to every test task under every design and judge it.

    Args:
        learner: A fitted learner of a JMAK law.
        test: Tasks carrying their reference fit (:func:`~sciml.materials.recrystallization.with_reference`).
        label: The learner's name in the results.
        shots: Numbers of measured points k.
        designs: Names from :data:`~sciml.materials.recrystallization.DESIGNS` (``random``:
            one draw per seed; ``early``: the k earliest points, once).
        seeds: Seeds of the random draws.
        noise_sd: Measurement noise sd of X for the Laplace bands.
        temperature_key: Metadata key of the task's temperature(s) in K.
        level: Band level of the ``coverage90`` metric.
        dataset: Prefix of the ``dataset`` column (``<dataset>:<design>``).
        study: The ``study`` column.

    Returns:
        One results frame per (design, k): ``t50_rel_error``, ``n_rel_error``, ``rmse_X``,
        ``diverged`` and ``coverage90`` rows. A task is judged only at the k it has more than k
        points for.
    """
    from sciml.evaluation.coverage import posterior_band_coverage
    from sciml.evaluation.protocol import few_shot_results
    from sciml.materials.kinetics import kinetics_metrics
    from sciml.materials.recrystallization import DESIGNS

    metrics = {**kinetics_metrics(temperature_key=temperature_key), "coverage90": posterior_band_coverage(learner, noise_sd, level)}
    frames = []
    for design in designs:
        for k in shots:
            judged = [t for t in test if len(t) > k]  # a task of k or fewer points has none left to judge the calibration on
            if judged:
                frames.append(few_shot_results(learner, judged, shots=[k], steps=[learner.inner_steps],
                                               seeds=seeds if design == "random" else [0], metrics=metrics, resample=DESIGNS[design],
                                               study=study, dataset=f"{dataset}:{design}", learner_name=label))
    return frames


def leave_one_group_out(
    tasks: TaskSet,
    learners: Mapping[str, Callable[[], Learner]],
    *,
    law: nn.Module,
    fit: Mapping[str, Any],
    shots: Sequence[int] = (2, 3, 5, 8),
    designs: Sequence[str] = ("random", "early"),
    seeds: Sequence[int] = tuple(range(10)),
    level: float = 0.9,
    temperature_key: str = "temperatures_K",
    min_train_points: int = 0,
    fit_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    keep: str | None = None,
    sequential: Mapping[str, Any] | None = None,
    dataset: str = "",
    study: str = "",
    log: Log = quiet,
) -> BenchmarkResult:
    """Hold out each group of ``tasks`` in turn; learn on the rest; calibrate and judge the held-out tasks.

    Args:
        tasks: One task per material (``material_tasks``) or per isotherm (``isotherm_tasks``),
            grouped by material.
        learners: Label -> a function returning a fresh learner (called after seeding torch with
            ``fit["seed"]``).
        law: The law the reference fits use (the learners' law).
        fit: ``Learner.fit`` arguments (``iterations``, ``shots``, ``query_size``, ``seed``).
        shots, designs, seeds, level, temperature_key: As :func:`calibrate_and_judge`.
        min_train_points: Training tasks with fewer points are left out of meta-training.
        fit_overrides: Label -> ``fit`` arguments that differ for that learner.
        keep: A label whose trained learner is kept per held-out group, with the held-out task
            and the noise sd (``details["kept"]``), e.g. for plots.
        sequential: ``{"learner", "start_shots", "added", "seeds"}`` and optionally ``"policy"``
            (a :class:`~sciml.materials.learned_design.DesignPolicy`): run
            :func:`~sciml.materials.design.sequential_design` with that learner on every held-out
            task (``details["sequential"]``, rows with dataset ``<dataset>:sequential``).
        dataset, study: Labels of the result rows.
        log: Progress callback.

    Returns:
        Rows of :func:`calibrate_and_judge` for every learner and held-out group; histories by
        ``"<label> (without <group>)"``; ``details["noise_sd"]``: the pooled noise sd per group.
    """
    from sciml.materials.design import sequential_design, sequential_rows
    from sciml.materials.recrystallization import fit_reference, pooled_noise_sd, with_reference

    refs = {t.name: fit_reference(t, law) for t in tasks}
    frames, sequence = [], []
    out = BenchmarkResult(pd.DataFrame(), details={"kept": {}, "noise_sd": {}, "references": refs})
    for held_out, train_all, test in tasks.leave_one_group_out():
        train = TaskSet(t for t in train_all if len(t) >= min_train_points)
        noise_sd = out.details["noise_sd"][held_out] = pooled_noise_sd(refs, train_all.names)
        test_tasks = [with_reference(t, law, refs[t.name]) for t in test]
        log(f"held out {held_out} ({len(test_tasks)} task(s)): priors from {len(train)} training tasks; noise sd {noise_sd:.3f}")
        for label, make in learners.items():
            torch.manual_seed(fit["seed"])
            learner = make()
            learner.fit(train, **{**fit, **(fit_overrides or {}).get(label, {})}, progress=False)
            frames += calibrate_and_judge(learner, test_tasks, label=label, shots=shots, designs=designs, seeds=seeds, noise_sd=noise_sd,
                                          temperature_key=temperature_key, level=level, dataset=dataset, study=study)
            if learner.history_:
                out.histories[f"{label} (without {held_out})"] = learner.history_
            if label == keep:
                out.details["kept"][held_out] = (learner, test_tasks[0], noise_sd)
            if sequential and label == sequential["learner"]:
                for task in test_tasks:
                    seq = sequential_design(learner, task, noise_sd, start_shots=sequential["start_shots"], added=sequential["added"],
                                            seeds=sequential["seeds"], policy=sequential.get("policy"))
                    sequence.append(sequential_rows(seq, task, label, study=study, dataset=f"{dataset}:sequential",
                                                    steps=learner.inner_steps))
    out.results = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    out.details["sequential"] = pd.concat(sequence, ignore_index=True) if sequence else pd.DataFrame()
    return out


def pretrained_on_synthetic(make: Callable[[], Learner], n_alloys: int, fit: Mapping[str, Any],
                            family: str = "W_recrystallization", seed: int = 0) -> Callable[[], Learner]:
    """A learner factory whose learners start meta-trained on synthetic alloys.

    The first call builds a learner with ``make`` and meta-trains it on ``n_alloys`` synthetic
    alloys of ``family`` (:meth:`~sciml.materials.synthetic_alloys.SyntheticAlloyFamily.material_tasks`,
    ``seed``); every call returns a fresh learner from ``make`` with that state loaded. The
    synthetic alloys do not depend on any held-out material, so in a leave-one-group-out run the
    pre-training is done once and each group's meta-training continues from it.

    Args:
        make: Builds a fresh learner of a JMAK-Arrhenius law (inputs time [s], temperature [K]);
            another law is refused when the factory is called.
        n_alloys: Synthetic alloys to pre-train on.
        fit: ``Learner.fit`` arguments of the pre-training (``iterations``, ``shots``,
            ``query_size``, ``seed``).
        family: Key of :data:`~sciml.materials.synthetic_alloys.FAMILIES`.
        seed: Seed of the synthetic alloys.
    """
    state: dict[str, torch.Tensor] = {}

    def build() -> Learner:
        from sciml.models.laws import JMAKArrhenius

        learner = make()
        material_level = isinstance(learner.model, JMAKArrhenius)  # the synthetic tasks read (time, temperature)
        if not material_level:
            raise ValueError(f"Synthetic pre-training applies at the material level only: it needs a JMAK-Arrhenius law (inputs "
                             f"time, temperature), got {type(learner.model).__name__}.")
        if not state:
            from sciml.materials.synthetic_alloys import SyntheticAlloyFamily

            learner.fit(SyntheticAlloyFamily(family).material_tasks(n_alloys, seed=seed), **fit, progress=False)
            state.update({k: v.detach().clone() for k, v in learner.state_dict().items()})
        learner.load_state_dict(state)
        return learner

    return build


def fit_law_prior(learner: Learner, tasks: TaskSet, fit: Mapping[str, Any], noise_sd: float, results: pd.DataFrame, label: str,
                  provenance: Mapping[str, Any] | None = None) -> Any:
    """Meta-train ``learner`` on every task and wrap it as a law :class:`~sciml.prior.Prior`
    with measurement noise ``noise_sd`` and, as held-out metrics, the medians of ``label``'s
    rows in ``results`` (from a leave-one-group-out run)."""
    from sciml.evaluation.protocol import held_out_metrics
    from sciml.prior.domains.law import law_prior

    learner.fit(tasks, **fit, progress=False)
    return law_prior(learner, tasks, noise_sd, metrics=held_out_metrics(results[results.learner == label], label, "median"),
                     provenance=dict(provenance or {}))
