"""The allocator settings of the ``sciml`` command: applied once, never over a user's choice."""

from __future__ import annotations

from sciml.allocator import SETTINGS, tuned_environment


def test_tuned_environment_adds_the_settings_once() -> None:
    env = tuned_environment({"PATH": "/bin"}, libc="glibc")
    assert env == {"PATH": "/bin", **SETTINGS}
    assert tuned_environment(env, libc="glibc") is None  # the re-executed process does not loop


def test_user_choices_and_other_platforms_are_left_alone() -> None:
    assert tuned_environment({"MALLOC_MMAP_THRESHOLD_": "65536"}, libc="glibc") is None
    assert tuned_environment({"SCIML_ALLOCATOR": "system"}, libc="glibc") is None
    assert tuned_environment({}, libc="") is None  # macOS, Windows, musl
