"""One scheduler per database: an exclusive lock held for the scheduler's lifetime.

APScheduler 3 cannot share a job store between two schedulers (both would run every job),
so a second ``swordnet scheduler run`` against the same database must refuse to start. On
PostgreSQL the lock is a session advisory lock on a connection kept open; on SQLite it is
``flock`` on a file next to the database. Both are released by the operating system or the
server when the process dies, so a crashed scheduler never blocks its successor. Who holds
the lock is recorded in ``scheduler_instances`` for the refusal message and for
``swordnet scheduler status``.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, select, text

from swordnet.core.db import Database
from swordnet.core.errors import Conflict
from swordnet.core.models import SchedulerInstance
from swordnet.core.timeutil import utcnow

# Advisory lock keys are per database on PostgreSQL; this one is "swordnet" in ASCII.
ADVISORY_KEY = 0x73776F72646E6574


class SchedulerAlreadyRunning(Conflict):
    """Another scheduler holds this database's lock."""


def _sqlite_lock_path(db: Database) -> Path | None:
    database = db.engine.url.database
    if not database or database == ":memory:":
        return None
    return Path(database).with_name(Path(database).name + ".scheduler-lock")


class SchedulerLock:
    """The database's scheduler lock; :meth:`acquire` raises if another process holds it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._connection: Connection | None = None
        self._file: IO[Any] | None = None
        self.instance_id: int | None = None

    def _try_lock(self) -> bool:
        if self.db.engine.dialect.name == "postgresql":
            connection = self.db.engine.connect()
            locked = connection.scalar(text("SELECT pg_try_advisory_lock(:key)"),
                                       {"key": ADVISORY_KEY})
            connection.commit()
            if not locked:
                connection.close()
                return False
            self._connection = connection
            return True
        path = _sqlite_lock_path(self.db)
        if path is None:
            return True
        handle = open(path, "a+")  # noqa: SIM115 (held open for the scheduler's lifetime)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def acquire(self, executor: str) -> None:
        """Take the lock and record this process as the running scheduler."""
        if not self._try_lock():
            holder = describe_holder(self.db)
            raise SchedulerAlreadyRunning(
                f"another scheduler is already running against this database ({holder}); "
                "stop it first: only one scheduler may use a database")
        now = utcnow()
        with self.db.session() as session:
            instance = SchedulerInstance(host=socket.gethostname(), pid=os.getpid(),
                                         executor=executor, started_at=now, heartbeat_at=now)
            session.add(instance)
            session.flush()
            self.instance_id = instance.id

    def heartbeat(self) -> None:
        with self.db.session() as session:
            instance = session.get(SchedulerInstance, self.instance_id)
            if instance is not None:
                instance.heartbeat_at = utcnow()

    def release(self) -> None:
        if self.instance_id is not None:
            with self.db.session() as session:
                instance = session.get(SchedulerInstance, self.instance_id)
                if instance is not None:
                    instance.stopped_at = utcnow()
        if self._connection is not None:
            self._connection.close()  # ends the session, which releases the advisory lock
            self._connection = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def held_elsewhere(self) -> bool:
        """Whether some other process holds the lock right now (probes, then lets go)."""
        if not self._try_lock():
            return True
        if self._connection is not None:
            self._connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                     {"key": ADVISORY_KEY})
        self.release()
        return False


def last_instance(db: Database) -> SchedulerInstance | None:
    with db.session() as session:
        return session.scalar(select(SchedulerInstance)
                              .order_by(SchedulerInstance.id.desc()).limit(1))


def describe_holder(db: Database) -> str:
    instance = last_instance(db)
    if instance is None or instance.stopped_at is not None:
        return "holder unknown"
    return (f"pid {instance.pid} on {instance.host}, started "
            f"{instance.started_at.isoformat(timespec='seconds')}")
