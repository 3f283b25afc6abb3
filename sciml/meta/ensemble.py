"""Ensembles of trained few-shot classifiers: weighted averages of their class probabilities,
with the weights chosen by greedy ensemble selection on validation episodes.

Ensemble selection (Caruana, Niculescu-Mizil, Crew & Ksikes, ICML 2004) starts from an empty
ensemble and, round after round, adds (with replacement) the member whose addition scores best
on validation data; a member's weight is the share of rounds it was added in. Adding with
replacement lets a strong member count more than a weak one, and a member that never helps gets
weight 0. The validation episodes must not come from the tasks the ensemble is finally judged on.

Example:
    >>> ensemble = ProbabilityEnsemble({"MAML head": head, "MatchingNet": matching})
    >>> ensemble.fit(held_out_tasks, shots=[10], seeds=range(5), resample=balanced_support)
    >>> ensemble.weights, ensemble.selection_
    >>> adapted = ensemble.adapt(support)      # every member adapts; probabilities averaged
    >>> adapted.predict_proba(query_x)         # [n, C]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from sciml.evaluation.metrics import class_probabilities
from sciml.meta.contract import FewShotLearner

Episode = tuple[np.ndarray, np.ndarray]
"""One validation episode of one member: class probabilities ``[n, C]`` and labels ``[n]``."""


class EnsemblePrediction:
    """The members of a :class:`ProbabilityEnsemble` adapted to one support set."""

    def __init__(self, adapted: Sequence[Any], weights: Sequence[float]) -> None:
        self._adapted, self._weights = list(adapted), [float(w) for w in weights]

    def predict_proba(self, x: Any) -> Tensor:
        """Weighted mean of the members' class probabilities ``[n, C]``."""
        total = None
        for ad, w in zip(self._adapted, self._weights):
            p = class_probabilities(torch.as_tensor(ad.predict(x)))
            if total is not None and p.shape != total.shape:
                raise ValueError(f"Ensemble members disagree on the output shape: {list(p.shape)} against {list(total.shape)}.")
            total = w * p if total is None else total + w * p
        return total

    def predict(self, x: Any) -> Tensor:
        """Log of :meth:`predict_proba` ``[n, C]``: a softmax gives the averaged probabilities
        back, the difference of the two columns of a binary task is its log-odds."""
        return torch.log(self.predict_proba(x).clamp_min(1e-12))


class ProbabilityEnsemble(FewShotLearner):
    """A weighted average of the class probabilities of trained few-shot classifiers that read
    the same inputs.

    ``fit`` trains no member (they come trained): it chooses the weights by greedy ensemble
    selection on few-shot episodes of the tasks it is given (:func:`greedy_weights`).
    ``adapt_many`` adapts every member with its own ``inner_steps`` (the step counts asked for
    only set how many predictors each support gets) and averages their probabilities.

    Args:
        members: Name -> trained classifier (a :class:`FewShotLearner` whose adapted ``predict``
            gives logits ``[n]``, ``[n, 1]`` or ``[n, C]``).
        weights: Name -> weight (non-negative, at least one positive; normalized to sum to 1);
            members weighted 0 take no part. Default: equal weights until :meth:`fit` chooses.
        rounds: Rounds of greedy selection in :meth:`fit` (weights are multiples of ``1 / rounds``).
        name: The ensemble's name in results.

    Attributes:
        weights: Name -> weight of every member (0 for those left out), summing to 1.
        selection_: After :meth:`fit`, the selection table of :func:`greedy_weights`.

    Raises:
        ValueError: on no members, a weight for an unknown member, a negative, NaN or all-zero
            weight, or ``rounds < 1``.
    """

    inner_steps = 0

    def __init__(self, members: Mapping[str, FewShotLearner], weights: Mapping[str, float] | None = None, rounds: int = 20,
                 name: str = "ensemble") -> None:
        if not members:
            raise ValueError("A ProbabilityEnsemble needs at least one member.")
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}.")
        self.members, self.rounds, self.name = dict(members), int(rounds), name
        self.weights = self._checked(dict.fromkeys(members, 1.0) if weights is None else dict(weights))

    def _checked(self, weights: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(weights) - set(self.members))
        if unknown:
            raise ValueError(f"Weights for members that are not in the ensemble: {unknown}; members: {sorted(self.members)}.")
        if any(not np.isfinite(w) or w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError(f"Ensemble weights must be finite, >= 0 and not all 0; got {weights}.")
        total = sum(weights.values())
        return {n: weights.get(n, 0.0) / total for n in self.members}

    def fit(self, train_tasks: Iterable[Any], val_tasks: Any = None, *, shots: int | Sequence[int], seeds: Iterable[int] = range(3),
            per_class: bool = False, resample: Callable[[Any, int, torch.Generator], Any] | None = None,
            score: Callable[[Sequence[Episode]], float] | None = None) -> ProbabilityEnsemble:
        """Choose the weights by greedy ensemble selection on few-shot episodes of ``train_tasks``.

        Args:
            train_tasks: Selection tasks: data the members were not trained on, and never the
                tasks the ensemble is judged on (for a few-shot benchmark: held-out data of the
                training tasks).
            val_tasks: Not used (the selection tasks are the validation data).
            shots: Support size(s) of the episodes.
            seeds: Seeds of the support draws.
            per_class: Draw ``shots`` per class (ignored with ``resample``).
            resample: Support design ``resample(task, shots, generator) -> Task``.
            score: Score of a list of episodes (default :func:`mean_roc_auc`).

        Returns:
            ``self``, with :attr:`weights` and :attr:`selection_` set.
        """
        shots = [shots] if isinstance(shots, int) else list(shots)
        tasks, seeds = list(train_tasks), list(seeds)
        episodes = {n: validation_probabilities(m, tasks, shots=shots, seeds=seeds, resample=resample, per_class=per_class)
                    for n, m in self.members.items()}
        weights, self.selection_ = greedy_weights(episodes, score or mean_roc_auc, self.rounds)
        self.weights = self._checked(weights)
        return self

    def adapt_many(self, supports: Sequence[Any], steps: Sequence[int]) -> list[list[EnsemblePrediction]]:
        """``result[i][j]``: every member of positive weight adapted to support ``i`` with its own
        inner steps (the same predictor for every ``j``)."""
        used = [n for n, w in self.weights.items() if w > 0]
        per_member = [self.members[n].adapt_many(supports, [self.members[n].inner_steps]) for n in used]
        w = [self.weights[n] for n in used]
        return [[EnsemblePrediction([adapted[i][0] for adapted in per_member], w)] * len(steps) for i in range(len(supports))]


def validation_probabilities(learner: FewShotLearner, tasks: Iterable[Any], *, shots: Sequence[int], seeds: Iterable[int],
                             resample: Callable[[Any, int, torch.Generator], Any] | None = None,
                             per_class: bool = False) -> list[Episode]:
    """One learner's class probabilities on few-shot episodes of ``tasks``, drawn as
    :func:`~sciml.evaluation.protocol.few_shot_results` draws them (the same seed, task and
    shots give every learner the same support).

    Args:
        learner: A trained classifier.
        tasks: Validation tasks (never the tasks the result will be judged on).
        shots: Support sizes.
        seeds: Seeds of the support draws.
        resample: Support design ``resample(task, shots, generator) -> Task`` (default:
            ``shots`` random points, :meth:`Task.resample`).
        per_class: Draw ``shots`` per class (ignored with ``resample``).

    Returns:
        ``[(probabilities [n, C], labels [n])]`` per (seed, shots, task), in that order.
    """
    from sciml.evaluation.protocol import draw_splits

    tasks, out = list(tasks), []
    for seed in seeds:
        for k in shots:
            split = draw_splits(tasks, k, seed, resample=resample, per_class=per_class)
            for task, (ad,) in zip(split, learner.adapt_many([t.support for t in split], [learner.inner_steps])):
                out.append((class_probabilities(torch.as_tensor(ad.predict(task.query.x))).numpy(), task.query.y.reshape(-1).numpy()))
    return out


def mean_roc_auc(episodes: Sequence[Episode]) -> float:
    """Mean over episodes of the ROC-AUC of the positive class's probability (binary episodes;
    episodes with one class only are skipped)."""
    from sciml.evaluation.metrics import roc_auc

    values = [roc_auc(torch.as_tensor(p[:, 1]), torch.as_tensor(y)) for p, y in episodes]
    values = [v for v in values if np.isfinite(v)]
    if not values:
        raise ValueError("No validation episode holds both classes: ROC-AUC is undefined.")
    return float(np.mean(values))


def greedy_weights(episodes: Mapping[str, Sequence[Episode]], score: Callable[[Sequence[Episode]], float] = mean_roc_auc,
                   rounds: int = 20) -> tuple[dict[str, float], pd.DataFrame]:
    """Ensemble selection with replacement (Caruana et al. 2004) on precomputed validation
    probabilities.

    Args:
        episodes: Member name -> its validation episodes (:func:`validation_probabilities`; the
            same episodes, in the same order, for every member).
        score: Score of a list of episodes (higher is better); default :func:`mean_roc_auc`.
        rounds: Members added in all (with replacement); weights are multiples of ``1 / rounds``.

    Returns:
        ``(weights, table)``: name -> weight (summing to 1), and one row per round (``round``,
        ``added``, ``score`` of the ensemble after adding it), after one row per member alone
        (``round`` 0).

    Ties go to the member named first, so the selection is deterministic.
    """
    names = list(episodes)
    if not names:
        raise ValueError("No members to select from.")
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}.")
    first = episodes[names[0]]
    for n in names:
        if len(episodes[n]) != len(first) or any(not np.array_equal(y, y0) for (_, y), (_, y0) in zip(episodes[n], first)):
            raise ValueError(f"Member {n!r} was validated on other episodes than {names[0]!r}: draw the same episodes for every member.")
    rows = [{"round": 0, "added": n, "score": score(episodes[n])} for n in names]
    counts = dict.fromkeys(names, 0)
    summed = [np.zeros_like(p) for p, _ in first]
    labels = [y for _, y in first]
    for r in range(1, rounds + 1):
        best, best_score = None, -np.inf
        for n in names:
            value = score([((s + p) / r, y) for s, (p, _), y in zip(summed, episodes[n], labels)])
            if value > best_score:
                best, best_score = n, value
        counts[best] += 1
        summed = [s + p for s, (p, _) in zip(summed, episodes[best])]
        rows.append({"round": r, "added": best, "score": best_score})
    return {n: c / rounds for n, c in counts.items()}, pd.DataFrame(rows)
