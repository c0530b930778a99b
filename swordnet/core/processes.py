"""Which process is which: a process named by host, pid and start time, and whether it lives.

A pid alone is not a name: once a process ends, the system may give its pid to a new one.
The start time (as the system reports it, in seconds since the epoch) tells the two apart,
so a process recorded by one command can be checked by another, later, on the same host.
A process on another host cannot be checked from here (:meth:`ProcessRef.alive` says None).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import psutil

# Start times are computed from the boot time and the start tick (1/100 s on Linux); two reads
# of the same process's start time agree to far better than this.
SAME_START_S = 0.005


@dataclass(frozen=True)
class ProcessRef:
    host: str
    pid: int
    started_at: float

    @classmethod
    def of(cls, pid: int) -> ProcessRef | None:
        """The process ``pid`` on this host, or None if there is no such process."""
        try:
            started_at = psutil.Process(pid).create_time()
        except psutil.NoSuchProcess:
            return None
        return cls(socket.gethostname(), pid, started_at)

    def alive(self) -> bool | None:
        """Whether this very process still runs (a zombie does not); None on another host."""
        if self.host != socket.gethostname():
            return None
        try:
            process = psutil.Process(self.pid)
            return (abs(process.create_time() - self.started_at) < SAME_START_S
                    and process.status() != psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return False
        except psutil.AccessDenied:
            return None


def this_process() -> ProcessRef:
    """The calling process."""
    ref = ProcessRef.of(os.getpid())
    assert ref is not None
    return ref
