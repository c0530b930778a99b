"""One instance of a long-running service per database: an exclusive lock held for the
service's lifetime.

Two schedulers on one database would both run every job (APScheduler 3 cannot share a job
store), and two live services would each keep their own references and check the same
streams; so a second ``swordnet scheduler run`` or ``swordnet live run`` against the same
database refuses to start, naming the one running. Each service (:data:`SERVICES`) has its own
lock: on PostgreSQL a session advisory lock on a connection kept open, on SQLite ``flock`` on a
file next to the database. Both are released by the operating system or the server when the
process dies, so a crashed service never blocks its successor. Who holds a lock is recorded in
``service_instances`` (host, pid, how it runs, start, heartbeat, stop) for the refusal
message and for ``swordnet scheduler status``.
"""

from __future__ import annotations

import fcntl
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, select, text
from sqlalchemy.exc import SQLAlchemyError

from swordnet.core.db import Database
from swordnet.core.errors import Conflict
from swordnet.core.models import ServiceInstance
from swordnet.core.timeutil import utcnow


@dataclass(frozen=True)
class Service:
    """A service that runs once per database: its name in messages, its PostgreSQL advisory
    lock key (per database) and its SQLite lock file's suffix."""

    title: str
    advisory_key: int
    lock_suffix: str


SERVICES: dict[str, Service] = {
    # "swordnet" and "swn-live" in ASCII
    "scheduler": Service("scheduler", 0x73776F72646E6574, ".scheduler-lock"),
    "live": Service("live service", 0x73776E2D6C697665, ".live-lock"),
}


class ServiceAlreadyRunning(Conflict):
    """Another instance of the service holds this database's lock."""


def _sqlite_lock_path(db: Database, service: Service) -> Path | None:
    database = db.engine.url.database
    if not database or database == ":memory:":
        return None
    return Path(database).with_name(Path(database).name + service.lock_suffix)


class ServiceLock:
    """The database's lock for ``service`` (a key of :data:`SERVICES`); :meth:`acquire`
    raises :class:`ServiceAlreadyRunning` if another process holds it."""

    def __init__(self, db: Database, service: str) -> None:
        self.db = db
        self.name = service
        self.service = SERVICES[service]
        self._connection: Connection | None = None
        self._file: IO[Any] | None = None
        self.instance_id: int | None = None

    def _try_lock(self) -> bool:
        if self.db.engine.dialect.name == "postgresql":
            connection = self.db.engine.connect()
            locked = connection.scalar(text("SELECT pg_try_advisory_lock(:key)"),
                                       {"key": self.service.advisory_key})
            connection.commit()
            if not locked:
                connection.close()
                return False
            self._connection = connection
            return True
        path = _sqlite_lock_path(self.db, self.service)
        if path is None:
            return True
        handle = open(path, "a+")  # noqa: SIM115 (held open for the service's lifetime)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def acquire(self, executor: str) -> None:
        """Take the lock and record this process as the running instance; ``executor``
        says how it runs its work."""
        if not self._try_lock():
            title = self.service.title
            raise ServiceAlreadyRunning(
                f"another {title} is already running against this database "
                f"({describe_holder(self.db, self.name)}); stop it first: only one {title} "
                "may use a database")
        now = utcnow()
        with self.db.session() as session:
            instance = ServiceInstance(service=self.name, host=socket.gethostname(),
                                       pid=os.getpid(), executor=executor, started_at=now,
                                       heartbeat_at=now)
            session.add(instance)
            session.flush()
            self.instance_id = instance.id

    def heartbeat(self) -> None:
        """Record that the instance is still running."""
        with self.db.session() as session:
            instance = session.get(ServiceInstance, self.instance_id)
            if instance is not None:
                instance.heartbeat_at = utcnow()

    def release(self) -> None:
        """Record the instance as stopped and let the lock go."""
        if self.instance_id is not None:
            with self.db.session() as session:
                instance = session.get(ServiceInstance, self.instance_id)
                if instance is not None:
                    instance.stopped_at = utcnow()
        if self._connection is not None:
            # The pool keeps the connection (and its session) open: unlock explicitly; a
            # connection that broke ended its session, which released the lock.
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                         {"key": self.service.advisory_key})
                self._connection.commit()
            except SQLAlchemyError:
                self._connection.invalidate()
            self._connection.close()
            self._connection = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def held_elsewhere(self) -> bool:
        """Whether some other process holds the lock right now (probes, then lets go)."""
        if not self._try_lock():
            return True
        self.release()
        return False


def last_instance(db: Database, service: str) -> ServiceInstance | None:
    """The newest instance of ``service`` recorded, running or not."""
    with db.session() as session:
        return session.scalar(select(ServiceInstance)
                              .where(ServiceInstance.service == service)
                              .order_by(ServiceInstance.id.desc()).limit(1))


def describe_holder(db: Database, service: str) -> str:
    """The running instance of ``service`` in a few words, for a refusal."""
    instance = last_instance(db, service)
    if instance is None or instance.stopped_at is not None:
        return "holder unknown"
    return (f"pid {instance.pid} on {instance.host}, started "
            f"{instance.started_at.isoformat(timespec='seconds')}")
