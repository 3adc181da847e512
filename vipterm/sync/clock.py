"""Hybrid logical clock: 48 bits of wall-clock milliseconds and a 16-bit counter in one int.

It never goes backwards, even when the wall clock does (a laptop's clock is often wrong), and
it moves forward past any clock it has seen from another device, so causally later edits win.
"""

from __future__ import annotations

import time
from collections.abc import Callable

COUNTER_BITS = 16
COUNTER_MASK = (1 << COUNTER_BITS) - 1
DAY_MS = 24 * 3600 * 1000


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def pack(physical_ms: int, counter: int) -> int:
    return (physical_ms << COUNTER_BITS) | counter


def physical_ms(hlc: int) -> int:
    return hlc >> COUNTER_BITS


def tick(last: int, now_ms: int) -> int:
    """The next local timestamp after `last`, given the wall clock reads `now_ms`."""
    last_ms, counter = last >> COUNTER_BITS, last & COUNTER_MASK
    if now_ms > last_ms:
        return pack(now_ms, 0)
    if counter < COUNTER_MASK:
        return pack(last_ms, counter + 1)
    return pack(last_ms + 1, 0)  # counter exhausted: borrow a millisecond


def observe(last: int, remote: int, now_ms: int) -> int:
    """The local clock after receiving `remote`: later than both it and `last`."""
    return tick(max(last, remote), now_ms)


def is_far_ahead(remote: int, now_ms: int, tolerance_ms: int = DAY_MS) -> bool:
    """A clock more than `tolerance_ms` ahead of our wall time is not to be trusted."""
    return physical_ms(remote) > now_ms + tolerance_ms


class HybridClock:
    """A stateful clock for one process; `wall` is injectable so tests can turn time back."""

    def __init__(self, last: int = 0, wall: Callable[[], int] = wall_ms):
        self.last = last
        self.wall = wall

    def now(self, floor: int = 0) -> int:
        self.last = tick(max(self.last, floor), self.wall())
        return self.last

    def observe(self, remote: int) -> int:
        self.last = observe(self.last, remote, self.wall())
        return self.last
