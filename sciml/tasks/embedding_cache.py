"""Embeddings of a frozen graph encoder, computed once per molecule and shared across tasks.

Assay tables label one molecule for many assays (a Tox21 molecule sits in up to 12 tasks), and
every frozen-body learner of a benchmark reads the same embeddings. :class:`EmbeddingCache`
embeds each distinct graph once (graphs matched by identity, as
:func:`~sciml.chem.fewshot.label_tasks` shares them across tasks) and builds every task's
tensors by lookup.

Example:
    >>> cache = EmbeddingCache(encoder)              # encoder: a frozen GNN with ``embed``
    >>> train_vectors = cache.encode(train_tasks)    # tasks of TensorData, [n, d] inputs
    >>> test_vectors = cache.encode(test_tasks)      # shared molecules are not embedded again
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from sciml.tasks.graph_data import GraphData
from sciml.tasks.task import Task


class EmbeddingCache:
    """Per-graph embeddings of a frozen encoder.

    The encoder is put in evaluation mode, so BatchNorm uses its stored statistics and every
    graph's embedding does not depend on the other graphs of its batch: embedding in chunks,
    once per graph, gives the same numbers as embedding each task's batch.

    Args:
        encoder: A graph model; ``getattr(encoder, method)`` maps a collated
            ``torch_geometric`` batch to ``[graphs, d]`` embeddings.
        method: The encoder's embedding method (``"embed"`` for sciml's GNNs, ``"forward"`` for
            the whole model).
        batch_size: Graphs per forward pass (memory only; the numbers do not depend on it).

    Attributes:
        encoder: The frozen encoder.
        computed: Number of graphs embedded so far.
    """

    def __init__(self, encoder: nn.Module, method: str = "embed", batch_size: int = 512) -> None:
        if not hasattr(encoder, method):
            raise ValueError(f"{type(encoder).__name__} has no method {method!r} to embed graphs with.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        self.encoder = encoder.eval()
        self._embed = getattr(encoder, method)
        self.batch_size = batch_size
        self._cache: dict[int, tuple[Any, Tensor]] = {}  # id -> (graph, embedding): the graph is kept so its id stays unique
        self.computed = 0

    def embed(self, data: GraphData) -> Tensor:
        """Embeddings of ``data``'s graphs, shape ``[len(data), d]``, in their order."""
        from torch_geometric.data import Batch

        if not isinstance(data, GraphData):
            raise TypeError(f"EmbeddingCache embeds graph data (GraphData), got {type(data).__name__}.")
        missing = list({id(g): g for g in data.graphs if id(g) not in self._cache}.values())
        self.encoder.eval()
        with torch.no_grad():
            for start in range(0, len(missing), self.batch_size):
                chunk = missing[start:start + self.batch_size]
                vectors = self._embed(Batch.from_data_list(chunk))
                if vectors.ndim != 2 or vectors.shape[0] != len(chunk):
                    raise ValueError(f"{type(self.encoder).__name__}.embed returned shape {tuple(vectors.shape)} for {len(chunk)} graphs; "
                                     "expected [graphs, d].")
                for g, v in zip(chunk, vectors):
                    self._cache[id(g)] = (g, v.clone())
        self.computed += len(missing)
        if not len(data):
            width = next(iter(self._cache.values()))[1].shape[0] if self._cache else 0
            return torch.zeros(0, width)
        return torch.stack([self._cache[id(g)][1] for g in data.graphs])

    def encode(self, tasks: Iterable[Task]) -> list[Task]:
        """The same tasks (names, groups, metadata, row order) with every graph replaced by its
        embedding; support and query stay apart. Names may repeat (a list of episodes)."""
        from sciml.tasks.taskset import encode_task_data

        return encode_task_data(tasks, self.embed)

    def __len__(self) -> int:
        return len(self._cache)
