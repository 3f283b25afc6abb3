"""Conformance suite for learners (anything implementing :class:`~sciml.meta.contract.FewShotLearner`)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar

import torch

from sciml.evaluation.protocol import RESULT_COLUMNS


def _snapshot(learner: Any) -> dict[str, torch.Tensor]:
    state = getattr(learner, "state_dict", None)
    if callable(state):
        return {k: v.detach().clone() for k, v in state().items()}
    return {}


def _predictions(adapted: Any, x: Any) -> torch.Tensor:
    with torch.no_grad():
        return torch.as_tensor(adapted.predict(x)).detach().double()


class LearnerConformance:
    """The learner contract, as pytest tests. Subclass as ``Test...`` and implement
    :meth:`make_learner` and :meth:`make_tasks`; override :meth:`bad_support` where a support
    set exists that the learner must refuse.

    Checked: ``fit`` returns ``self``; adaptation never changes the learned state; adapted
    predictors predict one row per query input; ``evaluate`` returns the results columns; the
    same seed gives the same predictions; ``save``/``load`` round trip (for learners with
    ``save``); targets that do not fit the model's output are refused.
    """

    fit_kwargs: ClassVar[dict[str, Any]] = {"iterations": 3, "progress": False}
    """Arguments of ``fit`` besides ``shots`` and ``per_class``."""
    shots: int = 3
    per_class: bool = False
    """Draw :attr:`shots` support points per class (classifiers)."""

    def make_learner(self) -> Any:
        """A fresh learner (called after ``torch.manual_seed(0)``)."""
        raise NotImplementedError

    def make_tasks(self) -> list[Any]:
        """A few tasks, each with more than :attr:`shots` points (or a task source for ``fit``)."""
        raise NotImplementedError

    def bad_support(self, task: Any) -> Any | None:
        """A support set of ``task`` the learner must refuse with ``ValueError``/``TypeError``
        (e.g. targets shaped unlike the model's output), or ``None`` to skip that check."""
        return None

    # ------------------------------------------------------------------ helpers
    def _fitted(self) -> tuple[Any, list[Any]]:
        torch.manual_seed(0)
        learner = self.make_learner()
        tasks = self.make_tasks()
        out = learner.fit(tasks, **{"shots": self.shots, "per_class": self.per_class, **self.fit_kwargs})
        assert out is learner, f"{type(learner).__name__}.fit must return self"
        return learner, tasks

    def _split(self, task: Any, seed: int = 0) -> Any:
        return task.resample(self.shots, torch.Generator().manual_seed(seed), per_class=self.per_class)

    # ------------------------------------------------------------------ the contract
    def test_fit_returns_self(self) -> None:
        self._fitted()

    def test_adapt_never_changes_the_learned_state(self) -> None:
        learner, tasks = self._fitted()
        before = _snapshot(learner)
        attrs = copy.deepcopy({k: v for k, v in vars(learner).items() if isinstance(v, (int, float, str, tuple))})
        split = self._split(tasks[0])
        learner.adapt(split.support)
        learner.adapt_many([self._split(t).support for t in tasks[:2]], [0, 1])
        after = _snapshot(learner)
        assert before.keys() == after.keys()
        for k in before:
            assert torch.equal(before[k], after[k]), f"adapt changed {k}"
        assert attrs == {k: v for k, v in vars(learner).items() if k in attrs}

    def test_adapted_predicts_each_query_row(self) -> None:
        learner, tasks = self._fitted()
        split = self._split(tasks[0])
        pred = _predictions(learner.adapt(split.support), split.query.x)
        assert pred.shape[0] == len(split.query)
        assert torch.isfinite(pred).all()

    def test_evaluate_returns_the_results_columns(self) -> None:
        learner, tasks = self._fitted()
        res = learner.evaluate(tasks[:2], shots=[self.shots], metrics={"one": lambda ad, t: 1.0}, per_class=self.per_class)
        assert list(res.columns) == RESULT_COLUMNS
        assert len(res) == 2 and set(res.shots) == {self.shots}

    def test_same_seed_same_predictions(self) -> None:
        first, tasks = self._fitted()
        second, _ = self._fitted()
        split = self._split(tasks[0])
        a = _predictions(first.adapt(split.support), split.query.x)
        b = _predictions(second.adapt(split.support), split.query.x)
        torch.testing.assert_close(a, b, rtol=0, atol=0)

    def test_save_load_round_trip(self, tmp_path: Path) -> None:
        learner, tasks = self._fitted()
        if not hasattr(learner, "save"):
            return
        path = learner.save(tmp_path / "learner")
        loaded = type(learner).load(path)
        split = self._split(tasks[0])
        torch.testing.assert_close(_predictions(loaded.adapt(split.support), split.query.x),
                                   _predictions(learner.adapt(split.support), split.query.x))

    def test_bad_support_is_refused(self) -> None:
        learner, tasks = self._fitted()
        bad = self.bad_support(tasks[0])
        if bad is None:
            return
        try:
            learner.adapt(bad)
        except (ValueError, TypeError):
            return
        raise AssertionError(f"{type(learner).__name__} accepted a support it must refuse")
