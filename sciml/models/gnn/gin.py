"""GIN for molecules in the style of Hu et al. (2020): categorical atom and bond embeddings,
edge-aware GIN layers, BatchNorm, a pooled readout and a head."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from sciml.models.config import Configurable
from sciml.models.norm import check_norm, norm_layer, norm_per_task_applies, norm_with

if TYPE_CHECKING:
    from sciml.models.task_graphs import TaskGraphs

SIMPLE_ATOM_VOCAB = (120, 4)  # atomic-number index (+ unknown), chirality
SIMPLE_BOND_VOCAB = (6, 3)  # bond type (+ self-loop, + unknown), direction



def _gnn():
    try:
        from torch_geometric.nn import MessagePassing, global_add_pool, global_mean_pool
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("GIN needs torch-geometric: pip install 'sciml[graph]'.") from err
    return MessagePassing, global_mean_pool, global_add_pool


class _CategoricalEmbedding(nn.Module):
    """Sum of one embedding per categorical column: ``[n, F]`` int64 -> ``[n, d]``."""

    def __init__(self, vocab: Sequence[int], dim: int) -> None:
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(v, dim) for v in vocab)
        for t in self.tables:
            nn.init.xavier_uniform_(t.weight)

    def forward(self, x: Tensor) -> Tensor:
        return sum(t(x[:, i]) for i, t in enumerate(self.tables))

    def lookup(self, x: Tensor, tables: Mapping[str, Tensor]) -> Tensor:
        """The sum of embeddings from given tables (``tables["tables.<i>.weight"]`` ``[v_i, d]``):
        ``[n, F]`` int64 -> ``[n, d]``."""
        return sum(nn.functional.embedding(x[:, i], tables[f"tables.{i}.weight"]) for i in range(len(self.tables)))


def _gin_layer(hidden: int, bond_vocab: Sequence[int]) -> nn.Module:
    message_passing, _, _ = _gnn()

    class GINEdgeLayer(message_passing):  # type: ignore[misc, valid-type]
        """``h_i' = MLP(sum_j (h_j + e_ij) + h_i + e_self)`` (Hu et al.'s GIN with edges)."""

        def __init__(self) -> None:
            super().__init__(aggr="add")
            self.mlp = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.ReLU(), nn.Linear(2 * hidden, hidden))
            self.edge = _CategoricalEmbedding(bond_vocab, hidden)
            self.self_loop = nn.Parameter(torch.zeros(hidden))

        def forward(self, h: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
            e = self.edge(edge_attr) if edge_attr.numel() else h.new_zeros(0, h.shape[1])
            return self.mlp(self.propagate(edge_index, x=h, e=e) + h + self.self_loop)

        def message(self, x_j: Tensor, e: Tensor) -> Tensor:
            return x_j + e

    return GINEdgeLayer()


class GIN(Configurable, nn.Module):
    """Graph isomorphism network over categorical atom/bond features.

    Args:
        out_features: Head outputs (1 for binary logits / regression, N for N-way, or an
            embedding size for ProtoNet).
        hidden: Width (300 in the published few-shot baselines).
        layers: Message-passing layers (5 in the published baselines).
        atom_vocab: Categories per atom feature column (default: the "simple" features).
        bond_vocab: Categories per bond feature column.
        pooling: ``"mean"`` or ``"sum"`` readout.
        dropout: Dropout after each layer.
        norm: ``"batch"`` (Hu et al.), ``"layer"`` (per atom: a molecule's embedding does not
            depend on which other molecules share its batch, so embeddings can be cached and a
            query molecule's score is independent of the rest of the query),
            ``"frozen_batch"`` (BatchNorm with fixed statistics, loaded from a ``"batch"``
            GIN's ``state_dict``: per molecule, like ``"layer"``) or ``"none"``. On Tox21,
            supervised multi-task training reached a held-out ROC-AUC of about 0.79 in 4
            epochs with ``"batch"`` but under 0.69 in 6 epochs with ``"layer"``.

    Shapes:
        - input: a ``torch_geometric.data.Batch`` with int64 ``x`` ``[atoms, F]``,
          ``edge_index`` ``[2, E]``, ``edge_attr`` ``[E, B]``
        - output: ``[graphs, out_features]``
    """

    def __init__(
        self,
        out_features: int = 1,
        hidden: int = 300,
        layers: int = 5,
        atom_vocab: Sequence[int] = SIMPLE_ATOM_VOCAB,
        bond_vocab: Sequence[int] = SIMPLE_BOND_VOCAB,
        pooling: str = "mean",
        dropout: float = 0.0,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        if pooling not in ("mean", "sum"):
            raise ValueError(f"pooling must be 'mean' or 'sum', got {pooling!r}.")
        check_norm(norm)
        self.remember(out_features=out_features, hidden=hidden, layers=layers, atom_vocab=list(atom_vocab),
                      bond_vocab=list(bond_vocab), pooling=pooling, dropout=dropout, norm=norm)
        self.atom = _CategoricalEmbedding(atom_vocab, hidden)
        self.convs = nn.ModuleList(_gin_layer(hidden, bond_vocab) for _ in range(layers))
        self.norms = nn.ModuleList(norm_layer(norm, hidden) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)
        self.pooling = pooling
        self.head = nn.Linear(hidden, out_features)

    def embed(self, batch) -> Tensor:
        """Pooled graph embeddings ``[graphs, hidden]``."""
        _, mean_pool, add_pool = _gnn()
        h = self.atom(batch.x)
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            h = norm(conv(h, batch.edge_index, batch.edge_attr))
            if i < len(self.convs) - 1:
                h = torch.relu(h)
            h = self.dropout(h)
        pool = mean_pool if self.pooling == "mean" else add_pool
        return pool(h, batch.batch)

    def forward(self, batch) -> Tensor:
        """Head outputs ``[graphs, out_features]``."""
        return self.head(self.embed(batch))

    @property
    def batches_tasks(self) -> bool:
        """Whether :meth:`forward_tasks` applies: with ``norm="layer"``, ``"none"`` or
        ``"frozen_batch"``, and with ``"batch"`` once its running statistics are removed (as a
        meta-learner does: each forward call normalizes by its own batch, so each task by its
        own molecules). BatchNorm that tracks running statistics updates them in ``forward``."""
        return all(norm_per_task_applies(n) for n in self.norms)

    def forward_tasks(self, params: Mapping[str, Tensor], graphs: TaskGraphs) -> Tensor:
        """The forward pass of ``B`` tasks at once, each with its own parameters: message passing
        once over all tasks' molecules, per-task weights as batched matrix products (the
        meta-learning engine's task-batched path).

        Args:
            params: Every parameter by name, with a leading task dimension: e.g.
                ``"head.weight"`` ``[B, out_features, hidden]``.
            graphs: The tasks' molecules (:class:`~sciml.models.task_graphs.TaskGraphs`),
                ``n`` per task.

        Returns:
            ``[B, n, out_features]``; row ``b`` equals ``forward`` of task ``b``'s molecules
            with the parameters ``[b]``.
        """
        if not self.batches_tasks:
            raise ValueError("GIN.forward_tasks needs norm='layer', 'none' or 'frozen_batch', or BatchNorm without running "
                             "statistics (as under a meta-learner); with running statistics run the tasks one by one.")
        _, mean_pool, add_pool = _gnn()
        batch, nodes, edges = graphs.batch, graphs.nodes, graphs.edges
        h = nodes.map(self.atom.lookup, batch.x, _under(params, "atom."))
        for i, conv in enumerate(self.convs):
            e = (edges.map(conv.edge.lookup, batch.edge_attr, _under(params, f"convs.{i}.edge."))
                 if batch.edge_attr.numel() else h.new_zeros(0, h.shape[1]))
            z = conv.propagate(batch.edge_index, x=h, e=e) + h
            layer = {k: params[f"convs.{i}.{k}"] for k in ("self_loop", "mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias")}
            layer.update(_under(params, f"norms.{i}.", "norm."))
            h = nodes.map(lambda z, p, i=i: self._node_update(i, z, p), z, layer)
            h = self.dropout(h)
        pool = mean_pool if self.pooling == "mean" else add_pool
        pooled = pool(h, batch.batch, size=batch.num_graphs)
        return graphs.per_task(graphs.graphs.linear(pooled, params["head.weight"], params["head.bias"]))

    def _node_update(self, i: int, z: Tensor, p: Mapping[str, Tensor]) -> Tensor:
        """Layer ``i`` after its neighbour sum, with one task's parameters: self loop, MLP, norm, ReLU."""
        z = nn.functional.linear(z + p["self_loop"], p["mlp.0.weight"], p["mlp.0.bias"])
        h = nn.functional.linear(torch.relu(z), p["mlp.2.weight"], p["mlp.2.bias"])
        h = norm_with(self.norms[i], h, {k[5:]: v for k, v in p.items() if k.startswith("norm.")})
        return torch.relu(h) if i < len(self.convs) - 1 else h


def _under(params: Mapping[str, Tensor], prefix: str, new_prefix: str = "") -> dict[str, Tensor]:
    """The entries of ``params`` under ``prefix``, renamed with ``new_prefix`` instead."""
    return {new_prefix + k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


def with_frozen_statistics(model: nn.Module) -> nn.Module:
    """A copy of a BatchNorm graph model (:class:`GIN`, :class:`~sciml.models.gnn.HuGNN`) whose
    normalization uses its running statistics as fixed buffers (``norm="frozen_batch"``), so
    each molecule is embedded on its own, independent of its batch, in any mode; the weights
    load strictly.

    Raises:
        ValueError: if ``model`` does not use BatchNorm.
    """
    cfg = model.config()["args"]
    if cfg.get("norm") != "batch":
        raise ValueError(f"with_frozen_statistics needs a model with norm='batch', got norm={cfg.get('norm')!r}.")
    frozen = type(model)(**{**cfg, "norm": "frozen_batch"})
    frozen.load_state_dict(model.state_dict())
    return frozen.eval()


def load_body(model: nn.Module, pretrained: nn.Module) -> nn.Module:
    """Copy every weight and statistic of ``pretrained`` except its ``head`` into ``model`` (a
    model of the same body with a new head, e.g. one output instead of one per pretraining
    task); the head of ``model`` keeps its fresh initialization. Returns ``model``.

    Raises:
        ValueError: if a body tensor of ``model`` is missing from ``pretrained`` or differs in shape.
    """
    body = {k: v for k, v in pretrained.state_dict().items() if not k.startswith("head.")}
    missing, unexpected = model.load_state_dict(body, strict=False)
    missing = [k for k in missing if not k.startswith("head.")]
    if missing or unexpected:
        raise ValueError(f"The pretrained body does not fit: missing {missing[:5]}, unexpected {unexpected[:5]}.")
    return model
