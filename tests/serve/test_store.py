"""The calibration store: bounded, expiring, unguessable ids."""

from __future__ import annotations

from sciml.serve import CalibrationStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_least_recently_used_is_evicted_beyond_the_size():
    store = CalibrationStore(max_size=3, ttl_s=100)
    a, b, c = (store.add(x) for x in "abc")
    assert store.get(a) == "a"  # a is now the most recently used
    d = store.add("d")
    assert store.get(b) is None and len(store) == 3
    assert [store.get(k) for k in (a, c, d)] == ["a", "c", "d"]


def test_calibrations_expire_after_their_last_use():
    clock = Clock()
    store = CalibrationStore(max_size=10, ttl_s=10, clock=clock)
    a, b = store.add("a"), store.add("b")
    clock.now = 8
    assert store.get(a) == "a"  # renewed until 18
    clock.now = 12
    assert store.get(b) is None and store.get(a) == "a"
    clock.now = 30
    assert store.get(a) is None and len(store) == 0


def test_ids_are_random_and_long():
    store = CalibrationStore(max_size=10_000)
    ids = {store.add(i) for i in range(2_000)}
    assert len(ids) == 2_000 and min(len(i) for i in ids) >= 22  # 128 random bits
    assert store.delete(next(iter(ids))) and len(store) == 1_999
