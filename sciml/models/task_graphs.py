"""A meta-batch of graph tasks as one PyG batch, for GNNs with per-task parameters.

The graphs of ``B`` tasks are collated task after task into one
``torch_geometric.data.Batch``, so the nodes, edges and graphs of each task are consecutive
rows. :class:`Segments` applies per-task parameters to them: each task's contiguous rows go
through the operation with that task's slice of the ``[B, ...]`` parameters (one matrix product
per task and layer: on CPU this measured faster than gathering weights per row or padding the
tasks to one batched product, ``benchmarks/gnn_maml_throughput.py``). A GNN's ``forward_tasks``
(:meth:`~sciml.models.gnn.GIN.forward_tasks`, :meth:`~sciml.models.CGCNN.forward_tasks`) runs
message passing and pooling once over the whole batch and these per-task operations in
between, which is what the meta-learning engine's task-batched path
(:mod:`sciml.meta.task_batched`) calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class Segments:
    """Rows of ``B`` tasks laid end to end (task 0's rows, then task 1's, ...).

    Args:
        counts: Rows per task, ``B`` entries.
    """

    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", tuple(int(c) for c in self.counts))
        if not self.counts or min(self.counts) < 0:
            raise ValueError(f"Segments need one non-negative row count per task, got {self.counts}.")

    @property
    def tasks(self) -> int:
        """``B``."""
        return len(self.counts)

    def map(self, fn: Callable[[Tensor, dict[str, Tensor]], Tensor], rows: Tensor, per_task: Mapping[str, Tensor]) -> Tensor:
        """``fn`` on each task's rows with that task's parameters, the results in row order.

        Args:
            fn: ``fn(rows_b, params_b)``: rows ``[n_b, ...]`` and one slice of every per-task
                tensor -> ``[n_b, ...]``.
            rows: ``[N, ...]``, ``N = sum(counts)``.
            per_task: Tensors with a leading task dimension ``[B, ...]``.

        Returns:
            ``[N, ...]``.
        """
        if rows.shape[0] != sum(self.counts):
            raise ValueError(f"{rows.shape[0]} rows for segments of {sum(self.counts)} rows.")
        slices = {k: v.unbind(0) for k, v in per_task.items()}
        parts = rows.split(self.counts)
        return torch.cat([fn(x, {k: v[b] for k, v in slices.items()}) for b, x in enumerate(parts)])

    def linear(self, rows: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        """Each task's rows through its own linear layer.

        Args:
            rows: ``[N, d_in]``.
            weight: ``[B, d_out, d_in]`` (``nn.Linear``'s layout per task).
            bias: ``[B, d_out]`` or ``None``.

        Returns:
            ``[N, d_out]``: row ``r`` of task ``b`` is ``weight[b] @ rows[r] + bias[b]``.
        """
        per_task = {"weight": weight} if bias is None else {"weight": weight, "bias": bias}
        return self.map(lambda x, p: nn.functional.linear(x, p["weight"], p.get("bias")), rows, per_task)


@dataclass(frozen=True)
class TaskGraphs:
    """The graphs of ``B`` tasks in one PyG batch, with the task of every node, edge and graph.

    Build it with :meth:`collate`. Every task holds the same number of graphs ``n``, so a
    model's graph-level output ``[B * n, ...]`` reads per task as ``[B, n, ...]``
    (:meth:`per_task`).

    Args:
        batch: One ``torch_geometric.data.Batch`` of all graphs, task by task.
        nodes: Task of every node.
        edges: Task of every edge.
        graphs: Task of every graph.
    """

    batch: Any
    nodes: Segments
    edges: Segments
    graphs: Segments

    @classmethod
    def collate(cls, tasks: Sequence[Sequence[Any]], device: torch.device | str | None = None) -> TaskGraphs:
        """Collate ``B`` tasks' graphs (``torch_geometric.data.Data`` each) task by task.

        Raises:
            ValueError: if there are no tasks, or tasks hold different numbers of graphs.
        """
        from sciml.tasks.graph_data import _batch_cls

        sizes = [len(t) for t in tasks]
        if not sizes or len(set(sizes)) != 1 or not sizes[0]:
            raise ValueError(f"TaskGraphs needs tasks with the same number of graphs (at least one), got {sizes}.")
        flat = [g for t in tasks for g in t]
        batch = _batch_cls().from_data_list(flat).to(device) if device is not None else _batch_cls().from_data_list(flat)
        nodes = Segments(tuple(sum(int(g.num_nodes) for g in t) for t in tasks))
        edges = Segments(tuple(sum(int(g.num_edges) for g in t) for t in tasks))
        return cls(batch, nodes, edges, Segments(tuple(sizes)))

    @property
    def tasks(self) -> int:
        """``B``."""
        return self.graphs.tasks

    def per_task(self, out: Tensor) -> Tensor:
        """Graph-level rows ``[B * n, ...]`` -> ``[B, n, ...]``."""
        return out.reshape(self.tasks, self.graphs.counts[0], *out.shape[1:])
