"""glibc allocator settings for graph networks on the CPU.

A molecular GNN allocates and frees activations of tens of megabytes at every layer. glibc's
``malloc`` serves each of them with a fresh ``mmap`` and hands the pages back on ``free``, so the
kernel zeroes every page again on the next layer: on 2 cores a forward pass of Hu et al.'s GCN
over 2,048 molecules took 1.64 s of wall time, with 1.94 s of CPU time (both threads) in the
kernel. Keeping freed memory in the heap (:data:`SETTINGS`) took it to 0.53 s, 0.03 s in the
kernel (``python benchmarks/allocator.py``). The numbers computed do not change, only where the
memory comes from; the process keeps up to the settings' size of freed memory for reuse instead
of returning it at once.

glibc reads these environment settings only when a process starts, so the ``sciml`` command
re-executes itself once with them (:func:`exec_with_tuned_allocator`). A script or notebook
applies the same to its running process with one call, :func:`keep_freed_memory` (glibc's
``mallopt``). With glibc's defaults, whether a freed block goes back to the kernel depends on
the heap's history: in two runs of ``python benchmarks/gnn_maml_throughput.py`` (GIN 5 x 300, 9
Tox21 tasks, 2 cores, each setting in its own process) an ANIL meta-iteration had 46,000 pages
faulted in and took 0.63 s (0.80 s in the other run) against none and 0.53 s (0.56 s) with these
settings, while MAML's meta-iteration faulted in none in that process and took 1.19 s against
1.29 s (1.41 against 1.27 s in the other run): no gain for it beyond the spread between runs.
``SCIML_ALLOCATOR=system`` keeps the process as started; settings the user already chose are
never overridden.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping, Sequence

SETTINGS: dict[str, str] = {"MALLOC_MMAP_THRESHOLD_": str(2**32), "MALLOC_TRIM_THRESHOLD_": str(2**32)}
"""Environment of a tuned process: no ``mmap`` below 4 GiB, no trimming of the heap below 4 GiB free."""

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
"""glibc's ``mallopt`` parameter numbers (``malloc.h``)."""

MALLOPT_LIMIT = 2**31 - 1
"""Both thresholds of :func:`keep_freed_memory` [bytes]: ``mallopt`` takes a C ``int``, so a
running process gets 2 GiB where a started one gets the 4 GiB of :data:`SETTINGS`."""


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


def keep_freed_memory(environ: Mapping[str, str] | None = None, libc: str | None = None) -> bool:
    """Give this running process the allocator settings the ``sciml`` command starts with: no
    ``mmap`` for blocks below :data:`MALLOPT_LIMIT`, and freed memory kept in the heap up to that
    size instead of going back to the kernel (glibc's ``mallopt``). Call it once, early in a
    script or notebook that trains or embeds graph networks; what is computed does not change.

    Args:
        environ: Environment to decide by (default ``os.environ``).
        libc: The C library's name (default ``platform.libc_ver()``; for tests).

    Returns:
        ``True`` where the settings were applied; ``False`` where nothing changed: not glibc,
        ``SCIML_ALLOCATOR=system``, or the process started with any of :data:`SETTINGS` (the
        user's choice, or the ``sciml`` command's, stands).

    Raises:
        OSError: if glibc refuses a setting.
    """
    if tuned_environment(os.environ if environ is None else environ, libc) is None:
        return False
    import ctypes
    import ctypes.util

    malloc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    for name, param in (("M_MMAP_THRESHOLD", _M_MMAP_THRESHOLD), ("M_TRIM_THRESHOLD", _M_TRIM_THRESHOLD)):
        if malloc.mallopt(param, MALLOPT_LIMIT) != 1:
            raise OSError(f"glibc's mallopt refused {name} = {MALLOPT_LIMIT}; run the script without sciml.allocator.keep_freed_memory() "
                          f"or start it with {' '.join(f'{k}={v}' for k, v in SETTINGS.items())} in its environment.")
    return True
