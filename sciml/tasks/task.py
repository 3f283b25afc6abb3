"""A task: a few labelled points to adapt on (support) and points to judge the result (query)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import torch

from sciml.tasks.data import TensorData

TaskData = Any
"""``TensorData`` or :class:`~sciml.tasks.graph_data.GraphData` (anything with ``len``,
``x``, ``y``, ``subset``, ``concat`` and ``to``)."""


@dataclass(frozen=True)
class Task:
    """One related experiment: an alloy, an assay, a material family, a class of stars.

    Args:
        support: Data used to adapt (calibrate) a model: ``TensorData`` or ``GraphData``.
        query: Data used to judge the adapted model. May be empty (0 rows) when the task only
            stores all its measurements as support and is resampled with :meth:`resample`.
        name: Unique name of the task within its :class:`~sciml.tasks.TaskSet`.
        group: Group the task belongs to (an alloy, a family, a paper). Splits never put one
            group on both sides. Defaults to ``name``.
        metadata: Units (``metadata["units"]``: column -> unit), provenance, ground truth of
            synthetic tasks, anything else. Stored read-only.
    """

    support: TaskData
    query: TaskData
    name: str
    group: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("A task needs a non-empty name.")
        if not self.group:
            object.__setattr__(self, "group", self.name)
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))
        dense = isinstance(self.support, TensorData) and isinstance(self.query, TensorData)
        if dense and len(self.query) and (
            self.support.x.shape[1:] != self.query.x.shape[1:]
            or self.support.y.shape[1:] != self.query.y.shape[1:]
        ):
            raise ValueError(
                f"Task {self.name!r}: support and query have different feature shapes "
                f"({tuple(self.support.x.shape[1:])} vs {tuple(self.query.x.shape[1:])})."
            )

    @property
    def data(self) -> TaskData:
        """All of the task's measurements: support rows followed by query rows."""
        return self.support.concat(self.query) if len(self.query) else self.support

    def __len__(self) -> int:
        return len(self.support) + len(self.query)

    def with_split(self, support: TaskData, query: TaskData) -> Task:
        """The same task (name, group, metadata) with a new support/query split."""
        return replace(self, support=support, query=query)

    def resample(
        self,
        shots: int,
        generator: torch.Generator,
        *,
        query_size: int | None = None,
        per_class: bool = False,
        min_query: int = 1,
    ) -> Task:
        """Draw a new k-shot split of all the task's measurements.

        Args:
            shots: Support size (regression) or support size per class (``per_class=True``).
            generator: Seeded generator; the split is a deterministic function of its state.
            query_size: Query size; defaults to every remaining point.
            per_class: Draw ``shots`` points of every class (targets are class indices).
            min_query: Fewest query points that must remain.

        Returns:
            A new task whose support holds the drawn points and whose query the rest.

        Raises:
            ValueError: if the task has too few measurements for ``shots`` (+ ``min_query``).
        """
        from sciml.tasks.sampling import k_shot_indices

        support_idx, query_idx = k_shot_indices(
            self.data.y,
            shots,
            generator,
            query_size=query_size,
            per_class=per_class,
            min_query=min_query,
            task_name=self.name,
        )
        data = self.data
        return self.with_split(data.subset(support_idx), data.subset(query_idx))
