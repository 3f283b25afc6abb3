"""The allocator settings of the ``sciml`` command and of :func:`~sciml.allocator.keep_freed_memory`: applied once,
never over a user's choice, and freed memory kept for reuse."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from sciml.allocator import SETTINGS, keep_freed_memory, tuned_environment


def test_tuned_environment_adds_the_settings_once() -> None:
    env = tuned_environment({"PATH": "/bin"}, libc="glibc")
    assert env == {"PATH": "/bin", **SETTINGS}
    assert tuned_environment(env, libc="glibc") is None  # the re-executed process does not loop


def test_user_choices_and_other_platforms_are_left_alone() -> None:
    assert tuned_environment({"MALLOC_MMAP_THRESHOLD_": "65536"}, libc="glibc") is None
    assert tuned_environment({"SCIML_ALLOCATOR": "system"}, libc="glibc") is None
    assert tuned_environment({}, libc="") is None  # macOS, Windows, musl


def test_keep_freed_memory_leaves_other_choices_alone() -> None:
    assert keep_freed_memory({"SCIML_ALLOCATOR": "system"}, libc="glibc") is False
    assert keep_freed_memory({"MALLOC_TRIM_THRESHOLD_": "131072"}, libc="glibc") is False
    assert keep_freed_memory({}, libc="") is False


_FAULTS_CHILD = r"""
import resource, sys, torch
from sciml.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "tuned" else None

def churn():  # 30 activations of 9 MB (7,786 atoms x 300 features) made and freed, 4 times
    for _ in range(4):
        xs = [torch.ones(7786, 300) for _ in range(30)]
        del xs

churn()  # the heap grows once
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or sys.platform != "linux", reason="glibc's mallopt on Linux only")
def test_keep_freed_memory_stops_the_kernel_from_refilling_freed_pages() -> None:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS and k != "SCIML_ALLOCATOR"}
    runs = {}
    for mode in ("default", "tuned"):
        out = subprocess.run([sys.executable, "-c", _FAULTS_CHILD, mode], env=env, check=True, capture_output=True, text=True)
        applied, faults = out.stdout.split()
        runs[mode] = (applied, int(faults))
    pages = 4 * 30 * 7786 * 300 * 4 // 4096  # what the churn touches, in 4 KiB pages
    assert runs["default"][1] > pages // 2  # glibc's defaults: every freed block goes back and faults in again
    assert runs["tuned"] == ("True", runs["tuned"][1]) and runs["tuned"][1] < pages // 100
