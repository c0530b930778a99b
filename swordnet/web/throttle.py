"""Sign-in throttling: too many wrong passwords for one username from one address, or from
one address for any usernames, in a short window, and further attempts from there are
refused until the window has passed.

Kept in the serving process's memory (``swordnet serve`` is one process); a restart clears it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from threading import Lock

MAX_FAILURES = 5
WINDOW_S = 15 * 60.0


class LoginThrottle:
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
        self.max_failures, self.window_s, self.clock = max_failures, window_s, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times

    def retry_after(self, keys: list[str]) -> int:
        """Seconds until any of ``keys`` may try again (0: it may now)."""
        now = self.clock()
        with self._lock:
            waits = [times[0] + self.window_s - now for key in keys
                     if len(times := self._recent(key, now)) >= self.max_failures]
        return max(0, round(max(waits))) if waits else 0

    def failed(self, keys: list[str]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, self._recent(key, now)).append(now)

    def succeeded(self, key: str) -> None:
        """Forget a key's failures (a user's, after they signed in)."""
        with self._lock:
            self._failures.pop(key, None)
