"""Global switches, used as context managers (the GPyTorch pattern).

Example:
    >>> from sciml import settings
    >>> with settings.vmap_tasks(False):
    ...     pass  # meta-batches are evaluated task by task in a Python loop
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_state = threading.local()


def _get(name: str, default: bool) -> bool:
    return getattr(_state, name, default)


@contextlib.contextmanager
def _switch(name: str, value: bool) -> Iterator[None]:
    previous = _get(name, True)
    setattr(_state, name, bool(value))
    try:
        yield
    finally:
        setattr(_state, name, previous)


class _Switch:
    """A boolean setting used as a context manager; ``on()`` reads the current value."""

    _name = ""

    def __init__(self, enabled: bool = True) -> None:
        self._cm = _switch(self._name, enabled)

    def __enter__(self) -> None:
        self._cm.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)

    @classmethod
    def on(cls) -> bool:
        """Whether the setting is on in the current context."""
        return _get(cls._name, True)


class vmap_tasks(_Switch):
    """Evaluate meta-batches of same-shaped tasks with ``torch.func.vmap`` (default on).

    Turning it off runs every task through the same per-task function in a Python loop;
    results are identical up to floating-point summation order.
    """

    _name = "vmap_tasks"


class task_batched_models(_Switch):
    """Meta-batches of same-shaped tasks on a model with ``forward_tasks`` (e.g.
    :class:`~sciml.models.MLP`; :class:`~sciml.models.gnn.GIN` and :class:`~sciml.models.CGCNN`
    on graph tasks with equal numbers of graphs) and plain gradient inner steps run with the per-task
    parameters as a leading dimension and plain autograd, instead of ``vmap`` (default on).

    Turning it off takes the ``vmap`` path; both give the per-task path's meta-gradient up to
    floating-point summation order.
    """

    _name = "task_batched_models"


class validate_inputs(_Switch):
    """Check the inputs of physical laws in ``forward`` (default on).

    The engine validates each task's data once, before any ``torch.func`` transform, and
    then turns the per-call check off: data-dependent checks cannot run inside ``vmap``.
    """

    _name = "validate_inputs"
