"""Rate limits over a sliding window, with the clock passed in.

Sign-in throttling: too many wrong passwords for one username from one address, or from
one address for any usernames, in a short window, and further attempts from there are
refused until the window has passed. Tips: a principal may queue so many tips per hour
(each is a crawl the scheduler runs on their behalf).

Kept in the serving process's memory (``swordnet serve`` is one process); a restart clears it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from threading import Lock

MAX_FAILURES = 5
WINDOW_S = 15 * 60.0
TIPS_PER_HOUR = 30


class SlidingWindowLimit:
    """Counts events per key over a sliding window; a key with ``max_events`` in the window
    waits until the oldest leaves it.

    >>> now = [0.0]
    >>> tips = SlidingWindowLimit(max_events=2, window_s=3600, clock=lambda: now[0])
    >>> tips.record(["tips:ann"]); now[0] = 600.0; tips.record(["tips:ann"])
    >>> tips.retry_after(["tips:ann"]), tips.retry_after(["tips:bob"])
    (3000, 0)
    """

    def __init__(self, max_events: int, window_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_events, self.window_s, self.clock = max_events, window_s, clock
        self._events: dict[str, deque[float]] = {}
        self._lock = Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._events.get(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            self._events.pop(key, None)
        return times

    def retry_after(self, keys: list[str]) -> int:
        """Seconds until any of ``keys`` may try again (0: it may now)."""
        now = self.clock()
        with self._lock:
            waits = [times[0] + self.window_s - now for key in keys
                     if len(times := self._recent(key, now)) >= self.max_events]
        return max(0, round(max(waits))) if waits else 0

    def record(self, keys: list[str]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._events.setdefault(key, self._recent(key, now)).append(now)

    def forget(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)


def tip_limit(clock: Callable[[], float] = time.monotonic) -> SlidingWindowLimit:
    """Tips queued per principal (key ``tips:USERNAME``): :data:`TIPS_PER_HOUR` an hour."""
    return SlidingWindowLimit(TIPS_PER_HOUR, 3600.0, clock)


class LoginThrottle(SlidingWindowLimit):
    """Counts failed sign-ins per key (``user:NAME@ADDRESS``, ``ip:ADDRESS``) over a sliding
    window.

    >>> now = [0.0]
    >>> throttle = LoginThrottle(max_failures=2, window_s=60, clock=lambda: now[0])
    >>> throttle.failed(["user:ann@10.0.0.1"]); throttle.failed(["user:ann@10.0.0.1"])
    >>> throttle.retry_after(["user:ann@10.0.0.1", "ip:10.0.0.1"])
    60
    >>> throttle.retry_after(["user:ann@10.0.0.2", "ip:10.0.0.2"])
    0
    >>> now[0] = 61.0
    >>> throttle.retry_after(["user:ann@10.0.0.1"])
    0
    """

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(max_failures, window_s, clock)

    def failed(self, keys: list[str]) -> None:
        self.record(keys)

    def succeeded(self, key: str) -> None:
        """Forget a key's failures (a user's, after they signed in)."""
        self.forget(key)
