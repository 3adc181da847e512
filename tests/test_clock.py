"""The hybrid logical clock is monotonic whatever the wall clock does."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vipterm.sync import clock


def test_wall_clock_going_backwards_does_not_move_the_hlc_back():
    wall = iter([10_000, 10_005, 9_000, 9_000, 8_000, 10_006, 10_006])
    hc = clock.HybridClock(wall=lambda: next(wall))
    stamps = [hc.now() for _ in range(7)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 7
    assert clock.physical_ms(stamps[2]) == 10_005  # held at the highest time seen


@given(
    st.lists(st.integers(min_value=0, max_value=2**40), min_size=1, max_size=200),
    st.lists(st.integers(min_value=0, max_value=2**56), max_size=20),
)
def test_hlc_strictly_increases_with_any_wall_times_and_remote_clocks(walls, remotes):
    hc = clock.HybridClock(wall=lambda: walls[0])
    last = 0
    for i, wall in enumerate(walls):
        hc.wall = lambda wall=wall: wall
        stamp = hc.observe(remotes[i % len(remotes)]) if remotes and i % 3 == 0 else hc.now()
        assert stamp > last
        if remotes and i % 3 == 0:
            assert stamp > remotes[i % len(remotes)]
        last = stamp


def test_counter_overflow_borrows_a_millisecond():
    last = clock.pack(500, clock.COUNTER_MASK)
    assert clock.tick(last, 400) == clock.pack(501, 0)


def test_far_future_detection():
    now = 1_000_000_000
    assert clock.is_far_ahead(clock.pack(now + clock.DAY_MS + 1, 0), now)
    assert not clock.is_far_ahead(clock.pack(now + 1000, 0), now)
