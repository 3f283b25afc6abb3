"""Lists of PyG graphs as plain tensors on disk (``torch.load(weights_only=True)``-safe)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch


def pack_graphs(graphs: Sequence[Any], node_keys: Sequence[str], edge_keys: Sequence[str], graph_keys: Sequence[str] = ()) -> dict[str, torch.Tensor]:
    """Concatenate per-node, per-edge and per-graph tensors of ``graphs`` with offsets.

    ``edge_index`` (if listed) is stored per graph, not shifted. Empty lists are refused.
    """
    if not graphs:
        raise ValueError("No graphs to store.")
    out = {
        "node_ptr": torch.tensor([0] + [g.num_nodes for g in graphs]).cumsum(0),
        "edge_ptr": torch.tensor([0] + [g.edge_index.shape[1] for g in graphs]).cumsum(0),
    }
    for k in node_keys:
        out[k] = torch.cat([g[k] for g in graphs])
    for k in edge_keys:
        out[k] = torch.cat([g[k] for g in graphs], 1 if k == "edge_index" else 0)
    for k in graph_keys:
        out[k] = torch.cat([g[k] for g in graphs])
    return out


def unpack_graphs(state: dict[str, torch.Tensor], node_keys: Sequence[str], edge_keys: Sequence[str], graph_keys: Sequence[str] = (),
                  extra: Sequence[dict[str, Any]] | None = None) -> list[Any]:
    """Inverse of :func:`pack_graphs`; ``extra[i]`` adds plain attributes to graph ``i``."""
    from torch_geometric.data import Data

    graphs = []
    n = len(state["node_ptr"]) - 1
    for i in range(n):
        a0, a1 = int(state["node_ptr"][i]), int(state["node_ptr"][i + 1])
        e0, e1 = int(state["edge_ptr"][i]), int(state["edge_ptr"][i + 1])
        attrs: dict[str, Any] = {k: state[k][a0:a1] for k in node_keys}
        attrs.update({k: state[k][:, e0:e1] if k == "edge_index" else state[k][e0:e1] for k in edge_keys})
        attrs.update({k: state[k][i:i + 1] for k in graph_keys})
        if extra is not None:
            attrs.update(extra[i])
        graphs.append(Data(num_nodes=a1 - a0, **attrs))
    return graphs


def save_with_sidecar(path: Path, state: dict[str, torch.Tensor], sidecar: Any) -> None:
    """Write tensors to ``path`` and a JSON ``sidecar`` next to it (``.json``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    path.with_suffix(".json").write_text(json.dumps(sidecar))


def load_with_sidecar(path: Path) -> tuple[dict[str, torch.Tensor], Any] | None:
    """``(state, sidecar)`` written by :func:`save_with_sidecar`, or ``None`` if absent."""
    side = path.with_suffix(".json")
    if not (path.is_file() and side.is_file()):
        return None
    return torch.load(path, weights_only=True), json.loads(side.read_text())
