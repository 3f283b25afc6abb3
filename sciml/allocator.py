"""glibc allocator settings for graph networks on the CPU.

A molecular GNN allocates and frees activations of tens of megabytes at every layer. glibc's
``malloc`` serves each of them with a fresh ``mmap`` and hands the pages back on ``free``, so the
kernel zeroes every page again on the next layer: on 2 cores a forward pass of Hu et al.'s GCN
over 2,048 molecules took 1.64 s of wall time, with 1.94 s of CPU time (both threads) in the
kernel. Keeping freed memory in the heap (:data:`SETTINGS`) took it to 0.53 s, 0.03 s in the
kernel (``python benchmarks/allocator.py``). The numbers computed do not change, only where the
memory comes from; the process keeps up to the settings' size of freed memory for reuse instead
of returning it at once.

glibc reads these settings only when a process starts, so the ``sciml`` command re-executes
itself once with them (:func:`exec_with_tuned_allocator`). ``SCIML_ALLOCATOR=system`` keeps the
process as started; settings the user already chose are never overridden.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping, Sequence

SETTINGS: dict[str, str] = {"MALLOC_MMAP_THRESHOLD_": str(2**32), "MALLOC_TRIM_THRESHOLD_": str(2**32)}
"""Environment of a tuned process: no ``mmap`` below 4 GiB, no trimming of the heap below 4 GiB free."""


def tuned_environment(environ: Mapping[str, str], libc: str | None = None) -> dict[str, str] | None:
    """The environment to re-execute with, or ``None`` where nothing is to change: not glibc,
    ``SCIML_ALLOCATOR=system``, or any of :data:`SETTINGS` already set (by the user or by an
    earlier re-execution)."""
    libc = platform.libc_ver()[0] if libc is None else libc
    if libc != "glibc" or environ.get("SCIML_ALLOCATOR", "").lower() == "system":
        return None
    if any(name in environ for name in SETTINGS):
        return None
    return {**environ, **SETTINGS}


def exec_with_tuned_allocator(argv: Sequence[str]) -> None:
    """Replace this process by ``python -m sciml argv...`` with :data:`SETTINGS` where
    :func:`tuned_environment` says so; otherwise return and let the caller go on."""
    env = tuned_environment(os.environ)
    if env is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "sciml", *argv], env)
