"""A named collection of tasks with group-wise splits that never leak a group."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import torch

from sciml.tasks.data import TensorData
from sciml.tasks.task import Task

if TYPE_CHECKING:
    import pandas as pd


def _stable_key(text: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()


class TaskSet(Sequence[Task]):
    """An ordered collection of tasks with unique names.

    Splits work on groups (``Task.group``): a group is never on both sides of a split, so a
    material measured in two papers, or two isotherms of one alloy, cannot leak from
    meta-train into meta-test.

    Args:
        tasks: The tasks; names must be unique.
    """

    def __init__(self, tasks: Iterable[Task]) -> None:
        self._tasks = list(tasks)
        names = [t.name for t in self._tasks]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"Task names must be unique; repeated: {dup[:5]}.")

    @overload
    def __getitem__(self, i: int) -> Task: ...
    @overload
    def __getitem__(self, i: slice) -> TaskSet: ...
    def __getitem__(self, i: int | slice) -> Task | TaskSet:
        if isinstance(i, slice):
            return TaskSet(self._tasks[i])
        return self._tasks[i]

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self._tasks)

    def __repr__(self) -> str:
        return f"TaskSet({len(self)} tasks, {len(self.groups)} groups)"

    @property
    def names(self) -> list[str]:
        """Task names, in order."""
        return [t.name for t in self._tasks]

    @property
    def groups(self) -> list[str]:
        """Distinct groups, in order of first appearance."""
        return list(dict.fromkeys(t.group for t in self._tasks))

    def task(self, name: str) -> Task:
        """The task called ``name``."""
        for t in self._tasks:
            if t.name == name:
                return t
        raise KeyError(f"No task named {name!r}; known: {self.names[:10]}...")

    def select_groups(self, groups: Iterable[str]) -> TaskSet:
        """Tasks whose group is in ``groups`` (unknown group names raise)."""
        wanted = set(groups)
        unknown = wanted - set(self.groups)
        if unknown:
            raise KeyError(f"Unknown group(s) {sorted(unknown)}; known groups: {self.groups}.")
        return TaskSet(t for t in self._tasks if t.group in wanted)

    def split(
        self,
        test_groups: Iterable[str] | None = None,
        *,
        test_fraction: float | None = None,
        seed: int = 0,
    ) -> tuple[TaskSet, TaskSet]:
        """Split by group into ``(train, test)``.

        Args:
            test_groups: Groups to hold out. Exactly one of ``test_groups`` and
                ``test_fraction`` must be given.
            test_fraction: Share of groups to hold out, chosen deterministically from ``seed``
                and the group names (independent of task order).
            seed: Seed of the fractional split.

        Returns:
            ``(train, test)`` task sets with no group in common.
        """
        if (test_groups is None) == (test_fraction is None):
            raise ValueError("Give exactly one of test_groups and test_fraction.")
        if test_groups is not None:
            held = set(test_groups)
            unknown = held - set(self.groups)
            if unknown:
                raise KeyError(f"Unknown test group(s) {sorted(unknown)}; known groups: {self.groups}.")
        else:
            assert test_fraction is not None
            if not 0.0 < test_fraction < 1.0:
                raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}.")
            ordered = sorted(self.groups, key=lambda g: _stable_key(g, seed))
            n_test = max(1, round(test_fraction * len(ordered)))
            if n_test >= len(ordered):
                raise ValueError(f"{len(ordered)} group(s) cannot be split with test_fraction={test_fraction}.")
            held = set(ordered[:n_test])
        train = TaskSet(t for t in self._tasks if t.group not in held)
        test = TaskSet(t for t in self._tasks if t.group in held)
        return train, test

    def leave_one_group_out(self) -> Iterator[tuple[str, TaskSet, TaskSet]]:
        """Yield ``(group, train, test)`` with each group held out once."""
        for g in self.groups:
            train, test = self.split([g])
            yield g, train, test

    def sample_batch(
        self,
        n: int,
        generator: torch.Generator,
        *,
        shots: int | Sequence[int] | None = None,
        query_size: int | None = None,
        per_class: bool = False,
    ) -> list[Task]:
        """A meta-batch of ``n`` tasks drawn with replacement across batches, without within.

        Args:
            n: Meta-batch size (capped at the number of tasks).
            generator: Seeded generator.
            shots: When given, every drawn task is resampled into a fresh ``shots``-point
                support and the remaining points as query. A sequence draws one support size
                per meta-batch (all tasks of a batch share it, so the batch stays vmappable).
            query_size: Query size for resampling (all remaining points when ``None``).
            per_class: Resample ``shots`` per class.
        """
        if not len(self):
            raise ValueError("Cannot sample from an empty TaskSet.")
        idx = torch.randperm(len(self), generator=generator)[: min(n, len(self))].tolist()
        batch = [self._tasks[i] for i in idx]
        if shots is not None and not isinstance(shots, int):
            options = list(shots)
            shots = int(options[int(torch.randint(len(options), (1,), generator=generator))])
        if shots is not None:
            batch = [t.resample(shots, generator, query_size=query_size, per_class=per_class) for t in batch]
        return batch

    def encoded(self, encode: Any) -> TaskSet:
        """The same tasks with every input replaced by ``encode(x)`` (see :func:`encode_tasks`)."""
        return TaskSet(encode_tasks(self, encode))

    @classmethod
    def from_dataframe(
        cls,
        df: pd.DataFrame,
        *,
        x: str | Sequence[str],
        y: str,
        units: Mapping[str, str],
        group: str,
        task: str | None = None,
        support_size: int | None = None,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        metadata: Mapping[str, Any] | None = None,
    ) -> TaskSet:
        """Build tasks from a tidy table, one row per measurement.

        Args:
            df: The table.
            x: Input column(s); one column gives ``x`` of shape ``[n]``, several ``[n, d]``.
            y: Target column; ``y`` has shape ``[n]``.
            units: Unit of every ``x`` and ``y`` column (``"1"`` for dimensionless). Required:
                a number without its unit is not a measurement.
            group: Column naming the group (alloy, material, paper) of each row.
            task: Column naming the task of each row; defaults to ``group`` (one task a group).
            support_size: Rows of each task drawn (seeded) into the support; the others form
                the query. ``None`` puts every row in the support and leaves the query empty,
                for resampling with :meth:`Task.resample`.
            seed: Seed of the support draw.
            dtype: Floating dtype of the tensors.
            metadata: Extra metadata stored on every task.

        Raises:
            KeyError: if a named column is missing.
            ValueError: if a unit is missing or data contain NaN.
        """
        x_cols = [x] if isinstance(x, str) else list(x)
        task_col = task or group
        needed = [*x_cols, y, group, task_col]
        missing = [c for c in needed if c not in df.columns]
        if missing:
            raise KeyError(f"Column(s) {missing} not in the table; it has {list(df.columns)}.")
        no_unit = [c for c in [*x_cols, y] if not units.get(c)]
        if no_unit:
            raise ValueError(
                f"Units missing for column(s) {no_unit}: pass units={{'{no_unit[0]}': 's', ...}} "
                "(use '1' for dimensionless quantities)."
            )
        tasks = []
        gen = torch.Generator().manual_seed(seed)
        for name, rows in df.groupby(task_col, sort=False):
            groups = rows[group].unique()
            if len(groups) != 1:
                raise ValueError(f"Task {name!r} spans several groups {list(groups)}; a task belongs to one group.")
            xv = torch.tensor(np.ascontiguousarray(rows[x_cols].to_numpy(dtype=float)), dtype=dtype)
            if len(x_cols) == 1:
                xv = xv[:, 0]
            yv = torch.tensor(np.ascontiguousarray(rows[y].to_numpy(dtype=float)), dtype=dtype)
            try:
                data = TensorData(xv, yv)
            except ValueError as err:
                raise ValueError(f"Task {name!r}: {err}") from None
            meta = {"units": {c: units[c] for c in [*x_cols, y]}, "x_columns": x_cols, "y_column": y}
            meta.update(metadata or {})
            if support_size is None:
                support, query = data, TensorData.empty_like(data)
            else:
                if len(data) <= support_size:
                    raise ValueError(f"Task {name!r} has {len(data)} rows, not more than support_size={support_size}.")
                perm = torch.randperm(len(data), generator=gen)
                support, query = data.subset(perm[:support_size]), data.subset(perm[support_size:])
            tasks.append(Task(support=support, query=query, name=str(name), group=str(groups[0]), metadata=meta))
        return cls(tasks)


def encode_tasks(tasks: Iterable[Task], encode: Any) -> list[Task]:
    """The same tasks (names, groups, metadata, row order) with every input replaced by
    ``encode(x)`` (e.g. the embeddings of a frozen encoder), computed once per task under
    ``torch.no_grad()``; support and query are encoded separately, so no row's encoding can
    depend on the other part.

    Args:
        tasks: Tasks (names may repeat, as in a list of episodes).
        encode: ``x -> [n, d]`` tensor (for graph data, ``x`` is the collated batch).
    """
    return encode_task_data(tasks, lambda data: encode(data.x))


def encode_task_data(tasks: Iterable[Task], embed: Any) -> list[Task]:
    """As :func:`encode_tasks`, with ``embed`` given each support and query data object
    (``TensorData`` or ``GraphData``) instead of its collated inputs, e.g.
    :meth:`~sciml.tasks.EmbeddingCache.embed`, which looks graphs up by identity."""
    out = []
    for t in tasks:
        with torch.no_grad():
            support = TensorData(embed(t.support), t.support.y)
            query = TensorData(embed(t.query), t.query.y) if len(t.query) else TensorData(support.x[:0], t.query.y)
        out.append(Task(support, query, name=t.name, group=t.group, metadata=dict(t.metadata)))
    return out
