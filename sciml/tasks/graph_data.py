"""Graph task data: a list of PyG graphs with one target each (extra ``graph``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor


def _batch_cls() -> Any:
    try:
        from torch_geometric.data import Batch
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("Graph tasks need torch-geometric: pip install 'sciml[graph]'.") from err
    return Batch


@dataclass(frozen=True)
class GraphData:
    """Graphs (``torch_geometric.data.Data``) and their targets: the graph counterpart of
    :class:`~sciml.tasks.TensorData`, with the same small interface (``len``, ``subset``,
    ``concat``, ``to``, ``x``, ``y``).

    ``x`` collates the graphs into one ``Batch`` (what a GNN's ``forward`` takes). Graph tasks
    have no fixed shape, so the engine runs them through its per-task loop rather than
    ``vmap``; every graph of a task is still evaluated in one batched call. A GNN with
    ``forward_tasks`` (:class:`~sciml.models.gnn.GIN`, :class:`~sciml.models.CGCNN`) takes a
    meta-batch of tasks with equal numbers of graphs in one batch instead
    (:mod:`sciml.meta.task_batched`).

    Args:
        graphs: The graphs.
        y: Targets, shape ``[n, ...]`` (float for regression, int64 class indices).
    """

    graphs: tuple[Any, ...]
    y: Tensor

    def __post_init__(self) -> None:
        object.__setattr__(self, "graphs", tuple(self.graphs))
        y = self.y if isinstance(self.y, Tensor) else torch.as_tensor(self.y)
        object.__setattr__(self, "y", y)
        if y.ndim == 0 or y.shape[0] != len(self.graphs):
            raise ValueError(f"{len(self.graphs)} graphs but targets of shape {tuple(y.shape)}: one target row per graph.")
        if torch.is_floating_point(y) and y.numel() and not torch.isfinite(y).all():
            rows = torch.nonzero(~torch.isfinite(y.reshape(len(y), -1)).all(1)).flatten().tolist()
            raise ValueError(f"targets contain NaN or infinite values for graphs {rows[:10]}; drop or impute them.")

    def __len__(self) -> int:
        return len(self.graphs)

    @property
    def x(self) -> Any:
        """All graphs collated into one ``torch_geometric.data.Batch`` (collated once, then the
        same object: treat it as read-only)."""
        batch = self.__dict__.get("_batch")
        if batch is None:
            batch = _batch_cls().from_data_list(list(self.graphs))
            object.__setattr__(self, "_batch", batch)
        return batch

    @property
    def signature(self) -> tuple[Any, ...]:
        """Graph data never share a stackable shape."""
        return ("graphs", id(self))

    def subset(self, index: Tensor | Sequence[int]) -> GraphData:
        """Graphs ``index``, as new data."""
        idx = torch.as_tensor(index, dtype=torch.long).tolist()
        return GraphData(tuple(self.graphs[i] for i in idx), self.y[torch.as_tensor(idx, dtype=torch.long)])

    def concat(self, other: GraphData) -> GraphData:
        """These graphs followed by ``other``'s."""
        return GraphData(self.graphs + other.graphs, torch.cat([self.y, other.y]))

    def to(self, *args: Any, **kwargs: Any) -> GraphData:
        """Move every graph (and float targets) like ``Tensor.to``."""
        y = self.y.to(*args, **kwargs) if torch.is_floating_point(self.y) else self.y
        return GraphData(tuple(g.to(*args, **kwargs) for g in self.graphs), y)

    @staticmethod
    def empty_like(other: GraphData) -> GraphData:
        """No graphs, targets shaped like ``other``'s."""
        return GraphData((), other.y[:0])
