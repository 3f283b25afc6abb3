"""Data-parallel meta-training over tasks on ``torch.distributed``.

Each rank draws its share of every meta-batch (``meta_batch_size / world_size`` tasks) from a
generator seeded by the run seed and its rank, computes its meta-gradient with the same engine
as a single process, and one ``all_reduce`` averages the gradients before the optimizer step.
With equal task counts per rank the average is the meta-batch mean, so ``W`` ranks take the same
steps as one process given the union of their tasks. ``DistributedDataParallel`` is not used:
its hooks do not support the double backward of second-order MAML.

Launch with ``torchrun --nproc_per_node N -m sciml run studies/<name>`` (or ``sciml run
studies/<name> --nproc N``); :meth:`~sciml.meta.learner.Learner.fit` picks up the process group
that :func:`init_from_environment` starts. The backend is gloo on CPU and NCCL on CUDA.

Example:
    >>> from sciml.meta import distributed
    >>> distributed.world()  # outside torchrun: one process
    World(rank=0, size=1)
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, NamedTuple

import torch
from torch import Tensor

TIMEOUT_ENV = "SCIML_DIST_TIMEOUT"
"""Seconds a collective waits for the other ranks before failing (default 300)."""


class World(NamedTuple):
    """This process's rank and the number of ranks (``size == 1`` without a process group)."""

    rank: int
    size: int


class RankFailure(RuntimeError):
    """A collective could not complete: another rank died, hung or left."""


def world() -> World:
    """Rank and world size of the current process group, or ``World(0, 1)`` without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World(0, 1)


def is_writer() -> bool:
    """Whether this process writes files, logs and progress bars (rank 0, or no process group)."""
    return world().rank == 0


def launched_by_torchrun() -> bool:
    """Whether the process was started by ``torchrun`` with more than one rank in the job."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def default_backend() -> str:
    """``"nccl"`` when CUDA is available, ``"gloo"`` otherwise."""
    return "nccl" if torch.cuda.is_available() else "gloo"


def timeout_seconds() -> float:
    """The collective timeout: ``$SCIML_DIST_TIMEOUT`` seconds, 300 by default."""
    raw = os.environ.get(TIMEOUT_ENV, "300")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds.") from None
    if value <= 0:
        raise ValueError(f"{TIMEOUT_ENV} must be positive, got {value}.")
    return value


def init_from_environment(backend: str | None = None) -> World:
    """Start the process group from torchrun's environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``) if there is more than one rank and none is running.

    Args:
        backend: ``"gloo"`` or ``"nccl"``; by default NCCL on CUDA machines, gloo otherwise.

    Returns:
        This process's :class:`World`.
    """
    import torch.distributed as dist

    if not launched_by_torchrun() or dist.is_initialized():
        return world()
    backend = backend or default_backend()
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    timeout = timedelta(seconds=timeout_seconds())
    # torchrun's agent hosts the store and keeps it across restarts: keys of a failed attempt
    # (the dead ranks' addresses) would stall the next one, so each attempt gets its own prefix
    agent_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == str(True)
    store = dist.TCPStore(os.environ.get("MASTER_ADDR", "127.0.0.1"), int(os.environ["MASTER_PORT"]), size,
                          is_master=not agent_store and rank == 0, timeout=timeout)
    attempt = dist.PrefixStore(f"sciml/attempt{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)
    dist.init_process_group(backend=backend, store=attempt, rank=rank, world_size=size, timeout=timeout)
    global _store
    _store = attempt
    return world()


def rank_seed(seed: int, rank: int, size: int) -> int:
    """Seed of the task-sampling generator of ``rank`` in a world of ``size`` ranks.

    One process (``size == 1``) keeps ``seed`` itself, so single-process runs are unchanged;
    with several ranks every rank gets its own stream derived from ``(seed, rank)``.
    """
    if size == 1:
        return int(seed)
    import numpy as np

    return int(np.random.SeedSequence([int(seed), int(rank), int(size)]).generate_state(1, dtype=np.uint64)[0] >> 1)


def shard_size(meta_batch_size: int, size: int) -> int:
    """Tasks each rank draws per meta-batch.

    Raises:
        ValueError: if the meta-batch does not split evenly (unequal shards would weight
            tasks unequally in the averaged gradient).
    """
    if meta_batch_size % size:
        raise ValueError(
            f"meta_batch_size={meta_batch_size} does not split evenly over {size} ranks; use a multiple of {size} "
            f"(e.g. {size * max(1, round(meta_batch_size / size))}) so every rank draws the same number of tasks."
        )
    return meta_batch_size // size


_store: Any = None
"""The store of the process group :func:`init_from_environment` started (for fault reports)."""


def silent_ranks(wait_s: float = 0.25) -> list[int] | None:
    """After a failed collective: the ranks that do not answer a roll call in the process
    group's store within ``wait_s`` (dead or hung); ``None`` without a store to ask."""
    me = world()
    if _store is None or me.size == 1 or "TORCHELASTIC_RUN_ID" in os.environ:
        return None  # torchrun's agent names the failed worker itself (and stops the others at once)
    try:
        _store.set(f"sciml/alive-after-failure/{me.rank}", "1")
        deadline = time.monotonic() + wait_s
        while True:
            silent = [r for r in range(me.size) if r != me.rank and not _store.check([f"sciml/alive-after-failure/{r}"])]
            if not silent or time.monotonic() > deadline:
                return silent
            time.sleep(0.05)
    except (RuntimeError, OSError):
        return None


@contextlib.contextmanager
def _collective(op: str, where: str = "") -> Iterator[None]:
    """Run a collective; a failure becomes a :class:`RankFailure` naming ``op`` and ``where``."""
    import torch.distributed as dist

    try:
        yield
    except (RuntimeError, dist.DistError) as err:
        raise _failure(op, err, where) from err


def _failure(op: str, err: BaseException, where: str) -> RankFailure:
    me = world()
    silent = silent_ranks()
    who = (f"rank {', '.join(map(str, silent))} died or stopped responding" if silent
           else "another rank died or stopped responding" + (" (torchrun's report names it)" if "TORCHELASTIC_RUN_ID" in os.environ else ""))
    return RankFailure(
        f"rank {me.rank} of {me.size}: {op} failed{where}: {who} "
        f"(timeout {timeout_seconds():.0f} s, set {TIMEOUT_ENV} to change it). Cause: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
    )


def average_gradients(grads: Mapping[str, Tensor], where: str = "") -> dict[str, Tensor]:
    """Mean of every rank's gradients, in one ``all_reduce`` of a flat vector.

    Args:
        grads: Gradients by parameter name; every rank passes the same names and shapes.
        where: Context for the error message (e.g. ``" at iteration 12"``).

    Returns:
        The averaged gradients (the input itself with one process).

    Raises:
        RankFailure: if another rank died or timed out.
    """
    import torch.distributed as dist

    size = world().size
    if size == 1:
        return dict(grads)
    names = sorted(grads)
    flat = torch.cat([grads[n].detach().reshape(-1) for n in names])
    with _collective("all_reduce of the meta-gradient", where):
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= size
    out, offset = {}, 0
    for n in names:
        numel = grads[n].numel()
        out[n] = flat[offset: offset + numel].view_as(grads[n])
        offset += numel
    return out


def average_scalar(value: float, where: str = "") -> float:
    """Mean of a float over ranks (the logged meta-loss); ``value`` itself with one process."""
    import torch.distributed as dist

    size = world().size
    if size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=_collective_device())
    with _collective("all_reduce of the meta-loss", where):
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / size


def broadcast_tensors(tensors: Sequence[Tensor], src: int = 0) -> None:
    """Overwrite ``tensors`` in place with rank ``src``'s values (parameters at start, buffers)."""
    import torch.distributed as dist

    if world().size == 1:
        return
    with _collective("broadcast of the parameters"), torch.no_grad():
        for t in tensors:
            buf = t.detach().to(_collective_device()).contiguous()
            dist.broadcast(buf, src=src)
            t.copy_(buf.to(t.device))


def gather_objects(obj: Any) -> list[Any] | None:
    """Every rank's ``obj`` on rank 0 (in rank order); ``None`` on the other ranks."""
    import torch.distributed as dist

    me = world()
    if me.size == 1:
        return [obj]
    out: list[Any] | None = [None] * me.size if me.rank == 0 else None
    with _collective("gather of the checkpoint state"):
        dist.gather_object(obj, out, dst=0)
    return out


def scatter_object(objs: list[Any] | None) -> Any:
    """Rank ``r`` receives ``objs[r]`` from rank 0 (``objs`` is only read on rank 0)."""
    import torch.distributed as dist

    me = world()
    if me.size == 1:
        assert objs is not None
        return objs[0]
    out: list[Any] = [None]
    with _collective("scatter of the checkpoint state"):
        dist.scatter_object_list(out, objs if me.rank == 0 else None, src=0)
    return out[0]


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    import torch.distributed as dist

    if world().size == 1:
        return obj
    box = [obj]
    with _collective("broadcast from rank 0"):
        dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Wait for every rank (nothing with one process)."""
    import torch.distributed as dist

    if world().size == 1:
        return
    with _collective("barrier"):
        dist.barrier()


def _collective_device() -> torch.device:
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
