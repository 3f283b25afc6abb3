"""Meta-training checkpoints: everything :meth:`~sciml.meta.learner.Learner.fit` needs to
continue an interrupted run so that it ends exactly as an uninterrupted one.

A checkpoint is one file, ``checkpoint.pt`` in the checkpoint folder, written atomically (to a
temporary file in the same folder, flushed to disk, then renamed over the old one), so a run
killed while writing leaves the previous checkpoint intact. It holds plain tensors, numbers and
strings only and is read with ``torch.load(weights_only=True)``:

- ``learner``: parameters, buffers and extra meta-parameters (``Learner.state_dict``);
- ``optimizer``: the outer optimizer's state;
- ``ranks``: per rank, the task-sampling generator and the global torch, NumPy and Python RNGs;
- ``iteration``, ``history``, ``best_val``, ``best_iteration``, ``best_state`` (early stopping);
- ``fingerprint``: what the run was (learner, data, seed, sampling, world size), checked on resume;
- ``complete`` and, once complete, ``final`` (the returned state, best state loaded).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sciml.meta.checkpoint import CheckpointError
from sciml.models.config import load_weights_only

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = 1


def rng_state() -> dict[str, Any]:
    """The global torch (CPU and CUDA), NumPy and Python RNG states as plain tensors."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "numpy": [str(kind), int(pos), int(has_gauss), float(gauss)],
        "python": torch.tensor(internal, dtype=torch.int64),
        "python_meta": [int(version), gauss_next],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    kind, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, state["numpy_keys"].numpy().astype(np.uint32), int(pos), int(has_gauss), float(gauss)))
    version, gauss_next = state["python_meta"]
    random.setstate((int(version), tuple(int(v) for v in state["python"].tolist()), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def fingerprint(doc: Mapping[str, Any]) -> str:
    """sha256 of a JSON description of a run (sorted keys)."""
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def save_checkpoint(directory: Path, state: Mapping[str, Any]) -> Path:
    """Write ``state`` to ``directory/checkpoint.pt`` atomically; returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CHECKPOINT_NAME
    tmp = directory / f".{CHECKPOINT_NAME}.{os.getpid()}.tmp"
    with open(tmp, "wb") as fh:
        torch.save({"format": FORMAT, **state}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def has_checkpoint(directory: str | Path) -> bool:
    """Whether ``directory`` holds a meta-training checkpoint."""
    return (Path(directory) / CHECKPOINT_NAME).is_file()


def load_checkpoint(directory: str | Path) -> dict[str, Any]:
    """Read ``directory/checkpoint.pt``.

    Raises:
        CheckpointError: if it is missing, unreadable or of another format.
    """
    path = Path(directory) / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"No meta-training checkpoint at {path}: nothing to resume (it is written every "
                              "checkpoint_every iterations once fit() runs with checkpoint_dir=...).")
    state = load_weights_only(path, "meta-training checkpoint", CheckpointError)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a sciml meta-training checkpoint of format {FORMAT}.")
    return state


@dataclass
class Checkpointing:
    """Where and how often the :meth:`~sciml.meta.learner.Learner.fit` calls inside a
    :func:`checkpointing` block save their state: the n-th call uses ``directory/fit-<n>``."""

    directory: Path
    every: int
    calls: int = 0

    def next_directory(self) -> Path:
        """The folder of the next ``fit`` call."""
        path = self.directory / f"fit-{self.calls:03d}"
        self.calls += 1
        return path


_active = threading.local()


def active_checkpointing() -> Checkpointing | None:
    """The innermost :func:`checkpointing` block of this thread, if any."""
    return getattr(_active, "value", None)


@contextlib.contextmanager
def checkpointing(directory: str | Path, every: int = 100) -> Iterator[Checkpointing]:
    """Checkpoint every ``Learner.fit`` call in the block and resume each from its folder.

    The calls are numbered in order (``fit-000``, ``fit-001``, ...): run the same code again
    with the same folder and each call continues from its checkpoint, a finished call returning
    its final state at once. A study run uses this for its whole run folder, which is how
    ``sciml run --resume`` works.

    Args:
        directory: Folder holding one sub-folder per ``fit`` call.
        every: Iterations between checkpoints.

    Example:
        >>> from sciml.meta.training_state import checkpointing
        >>> with checkpointing("runs/ckpt", every=50):  # doctest: +SKIP
        ...     learner.fit(tasks, iterations=1000)
    """
    if every < 1:
        raise ValueError(f"every must be >= 1 iteration, got {every}.")
    previous = active_checkpointing()
    _active.value = Checkpointing(Path(directory), int(every))
    try:
        yield _active.value
    finally:
        _active.value = previous
