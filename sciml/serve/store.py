"""A bounded, expiring store of calibrations, keyed by random unguessable ids."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class CalibrationStore:
    """Calibrations by id, least recently used evicted beyond ``max_size``, each expiring
    ``ttl_s`` seconds after its last use. Safe to use from several threads.

    Args:
        max_size: Calibrations kept at most (bounds the memory).
        ttl_s: Seconds a calibration lives after its last use.
        clock: Time source in seconds (monotonic by default; tests pass their own).
    """

    def __init__(self, max_size: int = 1_000, ttl_s: float = 3_600.0, clock: Callable[[], float] = time.monotonic) -> None:
        if not isinstance(max_size, int) or max_size < 1:
            raise ValueError(f"max_size must be a positive integer, got {max_size!r}.")
        if not ttl_s > 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s!r}.")
        self.max_size, self.ttl_s, self._clock = max_size, float(ttl_s), clock
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, calibration: Any) -> str:
        """Store a calibration and return its new id (128 random bits, URL-safe)."""
        key = secrets.token_urlsafe(16)
        with self._lock:
            self._expire()
            self._items[key] = (self._clock() + self.ttl_s, calibration)
            while len(self._items) > self.max_size:
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> Any | None:
        """The calibration stored under ``key`` (its lifetime renewed), or ``None`` when it is
        unknown, expired or evicted."""
        with self._lock:
            self._expire()
            item = self._items.get(key)
            if item is None:
                return None
            self._items[key] = (self._clock() + self.ttl_s, item[1])
            self._items.move_to_end(key)
            return item[1]

    def delete(self, key: str) -> bool:
        """Remove ``key``; whether it was there."""
        with self._lock:
            return self._items.pop(key, None) is not None

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._items)

    def _expire(self) -> None:
        now = self._clock()
        while self._items:
            key, (deadline, _) = next(iter(self._items.items()))
            if deadline > now:
                break
            del self._items[key]
