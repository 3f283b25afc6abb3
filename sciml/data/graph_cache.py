"""Featurized tables of PyG graphs: built row by row with every failure reported, and stored
on disk as plain tensors (``torch.load(weights_only=True)``-safe) keyed by input and settings."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class FeaturizedGraphs:
    """Graphs of the rows that featurized; ``rows[i]`` is graph ``i``'s input row, and
    ``skipped`` maps every row that failed to the reason."""

    graphs: list
    rows: list[int]
    skipped: dict[int, str]


GraphParts = dict[str, Any]
"""One graph as plain values: numpy arrays (made tensors by :func:`graph_from_parts`) and
scalars or strings (kept as attributes). Plain values cross process boundaries cheaply."""

ROWS_PER_WORKER = 500
"""Below this many rows per worker process, featurization stays in this process."""

_CHUNK = 256
_job: tuple[Sequence[Any], Callable[[int, Any], GraphParts], type[Exception]] | None = None
"""The rows being featurized, set before forking so worker processes inherit them instead of
receiving pickled copies."""


def graph_from_parts(parts: GraphParts) -> Any:
    """A ``torch_geometric.data.Data`` from :data:`GraphParts` (arrays shared, not copied)."""
    from torch_geometric.data import Data

    return Data(**{k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in parts.items()})


def _featurize_range(bounds: tuple[int, int]) -> list[tuple[int, bool, Any]]:
    """``(row, ok, parts or reason)`` for rows ``bounds[0]:bounds[1]`` of :data:`_job`."""
    assert _job is not None, "featurization job not set"
    items, featurize, error = _job
    out: list[tuple[int, bool, Any]] = []
    for i in range(*bounds):
        try:
            out.append((i, True, featurize(i, items[i])))
        except error as err:
            out.append((i, False, str(err)))
    return out


def worker_count(n_items: int, workers: int | None) -> int:
    """Processes used for ``n_items`` rows: ``workers`` if given, else one per CPU core with at
    least :data:`ROWS_PER_WORKER` rows each; always 1 where ``fork`` is unavailable (worker
    processes inherit the rows instead of importing everything again)."""
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}.")
    if sys.platform != "linux":
        return 1
    if workers is None:
        workers = min(os.cpu_count() or 1, n_items // ROWS_PER_WORKER)
    return max(1, min(workers, -(-n_items // _CHUNK)))


def featurize_rows(items: Sequence[Any], featurize: Callable[[int, Any], GraphParts], error: type[Exception], what: str,
                   progress: bool = False, workers: int | None = None) -> tuple[list[Any], list[int], dict[int, str]]:
    """``(graphs, rows, skipped)``: ``featurize(row, item)`` (returning :data:`GraphParts`) for
    every item; an ``error`` is recorded against its row and the count is logged (with the first
    reason), never dropped silently. ``what`` names the items in the message (e.g.
    ``"SMILES"``). Large inputs run in ``workers`` forked processes (see :func:`worker_count`) in
    chunks of rows; the output is the same, in the same order, as in one process."""
    from tqdm.auto import tqdm

    global _job
    n_workers = worker_count(len(items), workers)
    chunks = [(start, min(start + _CHUNK, len(items))) for start in range(0, len(items), _CHUNK)]
    graphs, rows, skipped = [], [], {}
    _job = (items, featurize, error)
    try:
        with ExitStack() as stack:
            bar = stack.enter_context(tqdm(total=len(items), desc=what, disable=not progress, leave=False))
            if n_workers == 1:
                results: Iterable[list[tuple[int, bool, Any]]] = map(_featurize_range, chunks)
            else:
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                pool = stack.enter_context(ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("fork")))
                results = pool.map(_featurize_range, chunks)
            for chunk in results:
                for i, ok, value in chunk:
                    if ok:
                        graphs.append(graph_from_parts(value))
                        rows.append(i)
                    else:
                        skipped[i] = value
                bar.update(len(chunk))
    finally:
        _job = None
    if skipped:
        first = next(iter(skipped.items()))
        logging.getLogger("sciml").warning(
            "%d of %d %s could not be used and were skipped (first: row %d: %s)", len(skipped), len(items), what, *first
        )
    return graphs, rows, skipped


def cache_path(prefix: str, *key: object) -> Path:
    """``<cache>/processed/<prefix>-<digest>.pt``, the digest of ``key`` joined by ``|``."""
    from sciml.data.download import cache_dir

    digest = hashlib.sha256("|".join(str(k) for k in key).encode()).hexdigest()[:16]
    return cache_dir() / "processed" / f"{prefix}-{digest}.pt"


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


def cached_featurization(path: Path, build: Callable[[], FeaturizedGraphs], keys: tuple[Sequence[str], Sequence[str], Sequence[str]],
                         extra: Callable[[int], dict[str, Any]]) -> tuple[list[Any], list[int], dict[int, str]]:
    """``(graphs, rows, skipped)`` from ``path`` if it was written, else from ``build()``,
    which is then stored. ``keys`` are the node, edge and graph tensor names;
    ``extra(row)`` gives the plain attributes restored on a loaded graph."""
    cached = load_with_sidecar(path)
    if cached is not None:
        state, side = cached
        rows = side["rows"]
        graphs = unpack_graphs(state, *keys, extra=[extra(r) for r in rows])
        return graphs, rows, {int(k): v for k, v in side["skipped"].items()}
    out = build()
    if out.graphs:
        save_with_sidecar(path, pack_graphs(out.graphs, *keys), {"rows": list(out.rows), "skipped": out.skipped})
    return out.graphs, out.rows, out.skipped
