"""CGCNN (Xie & Grossman, 2018): crystal-graph convolutions over element-property atom
features and Gaussian-expanded interatomic distances."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from sciml.models.config import Configurable
from sciml.models.norm import check_norm, norm_layer, norm_per_task_applies, norm_with

if TYPE_CHECKING:
    from sciml.models.task_graphs import TaskGraphs


class GaussianDistance(nn.Module):
    """Distances ``[E]`` (angstrom) -> ``[E, n_centers]`` Gaussians ``exp(-(d - mu)^2 / width^2)``
    with centers ``mu`` every ``step`` from 0 to ``cutoff``."""

    def __init__(self, cutoff: float = 8.0, step: float = 0.2, width: float | None = None) -> None:
        super().__init__()
        self.register_buffer("centers", torch.arange(0.0, cutoff + step / 2, step))
        self.width = width or step

    def forward(self, dist: Tensor) -> Tensor:
        return torch.exp(-((dist[:, None] - self.centers) ** 2) / self.width**2)


class CGCNN(Configurable, nn.Module):
    """Crystal graph convolutional network (extra ``materials``).

    Atoms start from the element-property table of :func:`sciml.materials.elements.element_features`
    (a fixed buffer looked up by atomic number), are embedded linearly, pass ``layers``
    ``torch_geometric.nn.CGConv`` convolutions (``x_i + sum_j sigmoid(z_ij W_f) * softplus(z_ij W_s)``,
    ``z_ij = [x_i, x_j, gaussians(d_ij)]``), are mean-pooled, and go through a softplus hidden
    layer to ``head``.

    Args:
        out_features: Outputs (1 for a scalar property).
        atom_dim: Atom embedding width (64 in CGCNN).
        layers: Convolutions (3 in CGCNN).
        hidden: Width after pooling (128 in CGCNN).
        cutoff: Largest distance of the Gaussian expansion [angstrom] (the graph radius).
        step: Spacing of the Gaussian centres [angstrom].
        norm: ``"batch"`` (CGCNN), ``"layer"`` or ``"none"`` after each convolution;
            ``"layer"``/``"none"`` keep one crystal's output independent of its batch.

    Shapes:
        - input: a ``torch_geometric.data.Batch`` of crystal graphs (``z`` ``[atoms]``,
          ``edge_index`` ``[2, E]``, ``dist`` ``[E]``)
        - output: ``[crystals, out_features]``
    """

    def __init__(self, out_features: int = 1, atom_dim: int = 64, layers: int = 3, hidden: int = 128, cutoff: float = 8.0,
                 step: float = 0.2, norm: str = "layer") -> None:
        super().__init__()
        try:
            from torch_geometric.nn import CGConv
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("CGCNN needs torch-geometric: pip install 'sciml[graph]'.") from err
        from sciml.materials.elements import element_features

        check_norm(norm)
        self.remember(out_features=out_features, atom_dim=atom_dim, layers=layers, hidden=hidden, cutoff=cutoff, step=step, norm=norm)
        table = element_features()
        self.register_buffer("element_table", table)
        self.expand = GaussianDistance(cutoff, step)
        n_gauss = self.expand.centers.numel()
        self.embed_atoms = nn.Linear(table.shape[1], atom_dim)
        self.convs = nn.ModuleList(CGConv(atom_dim, dim=n_gauss, aggr="add") for _ in range(layers))
        self.norms = nn.ModuleList(norm_layer(norm, atom_dim) for _ in range(layers))
        self.fc = nn.Linear(atom_dim, hidden)
        self.head = nn.Linear(hidden, out_features)

    def embed(self, batch) -> Tensor:
        """Pooled crystal embeddings ``[crystals, hidden]`` (after the softplus layer)."""
        from torch_geometric.nn import global_mean_pool

        h = self.embed_atoms(self.element_table[batch.z])
        e = self.expand(batch.dist)
        for conv, norm in zip(self.convs, self.norms):
            h = nn.functional.softplus(norm(conv(h, batch.edge_index, e)))
        return nn.functional.softplus(self.fc(global_mean_pool(h, batch.batch, size=batch.num_graphs)))

    def forward(self, batch) -> Tensor:
        """Head outputs ``[crystals, out_features]``."""
        return self.head(self.embed(batch))

    @property
    def batches_tasks(self) -> bool:
        """Whether :meth:`forward_tasks` applies: with ``norm="layer"``, ``"none"`` or
        ``"frozen_batch"``, and with ``"batch"`` once its running statistics are removed (as a
        meta-learner does: each forward call normalizes by its own batch, so each task by its
        own crystals). BatchNorm that tracks running statistics updates them in ``forward``."""
        return all(norm_per_task_applies(n) for n in self.norms)

    def forward_tasks(self, params: Mapping[str, Tensor], graphs: TaskGraphs) -> Tensor:
        """The forward pass of ``B`` tasks at once, each with its own parameters: neighbour sums
        once over all tasks' crystals, per-task weights as batched matrix products (the
        meta-learning engine's task-batched path).

        Args:
            params: Every parameter by name, with a leading task dimension: e.g.
                ``"head.weight"`` ``[B, out_features, hidden]``.
            graphs: The tasks' crystals (:class:`~sciml.models.task_graphs.TaskGraphs`),
                ``n`` per task.

        Returns:
            ``[B, n, out_features]``; row ``b`` equals ``forward`` of task ``b``'s crystals
            with the parameters ``[b]``.
        """
        from torch_geometric.nn import global_mean_pool

        if not self.batches_tasks:
            raise ValueError("CGCNN.forward_tasks needs norm='layer', 'none' or 'frozen_batch', or BatchNorm without running "
                             "statistics (as under a meta-learner); with running statistics run the tasks one by one.")
        batch, nodes, edges = graphs.batch, graphs.nodes, graphs.edges
        h = nodes.linear(self.element_table[batch.z], params["embed_atoms.weight"], params["embed_atoms.bias"])
        e = self.expand(batch.dist)
        src, dst = batch.edge_index
        for i, norm in enumerate(self.norms):
            p = f"convs.{i}."
            z = torch.cat([h[dst], h[src], e], dim=-1)  # CGConv: [x_i, x_j, e_ij], messages from j to i
            message = edges.map(_cgconv_message, z, {k: params[p + k] for k in ("lin_f.weight", "lin_f.bias", "lin_s.weight", "lin_s.bias")})
            h = h + torch.zeros_like(h).index_add(0, dst, message)
            if not isinstance(norm, nn.Identity):
                h = nodes.map(lambda x, q, norm=norm: norm_with(norm, x, q), h,
                              {"weight": params[f"norms.{i}.weight"], "bias": params[f"norms.{i}.bias"]})
            h = nn.functional.softplus(h)
        pooled = global_mean_pool(h, batch.batch, size=batch.num_graphs)
        hidden = nn.functional.softplus(graphs.graphs.linear(pooled, params["fc.weight"], params["fc.bias"]))
        return graphs.per_task(graphs.graphs.linear(hidden, params["head.weight"], params["head.bias"]))


def _cgconv_message(z: Tensor, p: dict[str, Tensor]) -> Tensor:
    """CGConv's message ``sigmoid(z W_f) * softplus(z W_s)`` with one task's weights: ``[E, 2 d + g]`` -> ``[E, d]``."""
    gate = torch.sigmoid(nn.functional.linear(z, p["lin_f.weight"], p["lin_f.bias"]))
    return gate * nn.functional.softplus(nn.functional.linear(z, p["lin_s.weight"], p["lin_s.bias"]))
