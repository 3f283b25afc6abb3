"""The contract every learner keeps, meta-learner or baseline: :class:`FewShotLearner`.

``fit`` learns across tasks and returns ``self``; ``adapt_many`` calibrates to support sets and
returns one adapted predictor per (support, step count), each with ``predict(x)``; adaptation
never changes what ``fit`` learned. ``adapt`` and ``evaluate`` (the few-shot protocol) are built
on ``adapt_many``. :mod:`sciml.testing` checks the contract on any subclass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import pandas as pd

    from sciml.tasks import Task


class FewShotLearner(ABC):
    """Abstract base of every learner.

    Subclasses set :attr:`name` and :attr:`inner_steps` and implement :meth:`fit` and
    :meth:`adapt_many`.
    """

    name: ClassVar[str] | str = "learner"
    inner_steps: int = 0

    @abstractmethod
    def fit(self, train_tasks: Any = None, val_tasks: Any = None, **kwargs: Any) -> FewShotLearner:
        """Learn across ``train_tasks`` (early stopping on ``val_tasks`` where it applies); returns ``self``."""

    @abstractmethod
    def adapt_many(self, supports: Sequence[Any], steps: Sequence[int]) -> list[list[Any]]:
        """``result[i][j]``: support ``i`` adapted with ``steps[j]`` inner steps; each has ``predict(x)``."""

    def adapt(self, support: Any, steps: int | None = None) -> Any:
        """Calibrate to one task from its support set (a ``Task``: its support is used)."""
        return self.adapt_many([support], [self.inner_steps if steps is None else steps])[0][0]

    def evaluate(
        self,
        tasks: Iterable[Task],
        shots: Sequence[int],
        steps: Sequence[int] | None = None,
        *,
        seeds: Iterable[int] = (0,),
        metrics: Mapping[str, Callable[[Any, Task], float]] | None = None,
        query_size: int | None = None,
        per_class: bool = False,
        study: str = "",
        dataset: str = "",
        learner_name: str | None = None,
        **kwargs: Any,
    ) -> pd.DataFrame:
        """Few-shot protocol: metric vs shots and inner steps, over seeds.

        Every task is resampled (seeded by seed, task name and shots, so every learner sees
        the same points) into ``shots`` support points and the rest as query.

        Returns:
            Tidy results with columns ``study, dataset, learner, task, group, shots, steps,
            seed, metric, value``.
        """
        from sciml.evaluation.protocol import few_shot_results

        return few_shot_results(
            self, tasks, shots=shots, steps=[self.inner_steps] if steps is None else steps, seeds=seeds, metrics=metrics,
            query_size=query_size, per_class=per_class, study=study, dataset=dataset, learner_name=learner_name or self.name,
            **kwargs,
        )
