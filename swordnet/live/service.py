"""The live service: the official feeds' reference ingest and the candidate-stream checker,
run in threads until stopped.

One thread takes in the running events' feeds (:class:`ReferenceIngest`); the dispatcher hands
due streams to a small pool of checker threads, never the same stream twice at once, as many
as there are free workers. Sampling is mostly waiting on the network and on ffmpeg (a
subprocess), so a few threads keep up with dozens of streams on two cores. Stopping lets the
checks in progress finish, then seals the evidence file. The clock is passed in: tests drive
the service with :meth:`LiveService.step`, one round at a given time.

One live service runs per database (:class:`swordnet.core.service_lock.ServiceLock`, as for
the scheduler): a second would keep references of its own and check the same streams, so
:meth:`LiveService.run_until` refuses to start while another holds the lock, naming it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.outbound import AddressPolicy
from swordnet.core.service_lock import ServiceLock
from swordnet.core.timeutil import utcnow
from swordnet.evidence.store import EvidenceStore
from swordnet.live.checker import LiveChecker
from swordnet.live.evidence import LiveEvidence, recover
from swordnet.live.reference import ReferenceIngest, spool_dir
from swordnet.live.sampler import StreamSampler

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 8
TICK_S = 1.0
SEAL_EVERY_S = 600.0
HEARTBEAT_S = 30.0


class LiveService:
    """The reference ingest and the checker over one database and evidence store.

    ``sampler``, ``references`` and ``checker`` default to the real ones built from
    ``settings``; tests pass their own (a sampler with their resolver, fakes for the matcher)."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utcnow, *,
                 db: Database | None = None, sampler: StreamSampler | None = None,
                 references: ReferenceIngest | None = None,
                 checker: LiveChecker | None = None, workers: int = DEFAULT_WORKERS,
                 tick_s: float = TICK_S, seal_every_s: float = SEAL_EVERY_S) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.settings = settings
        self.clock = clock
        self.db = db if db is not None else open_database(settings)
        if sampler is None:
            sampler = StreamSampler(AddressPolicy.from_text(settings.allow_networks),
                                    clock=clock)
        if references is None:
            references = ReferenceIngest(self.db, sampler=sampler, spool=spool_dir(settings))
        if checker is None:
            checker = LiveChecker(self.db, references, sampler=sampler,
                                  evidence=LiveEvidence(EvidenceStore(settings.evidence_dir)),
                                  clock=clock)
        self.references, self.checker = references, checker
        self.workers, self.tick_s = workers, tick_s
        self.seal_every = timedelta(seconds=seal_every_s)
        self._sealed_at: datetime | None = None

    def step(self, now: datetime) -> dict[int, str]:
        """One round at ``now``: the feeds taken in, then every due stream checked (in the
        pool) before returning; returns each checked stream's outcome."""
        self.ingest(now)
        return self.check(now)

    def ingest(self, now: datetime) -> None:
        """Take in the running events' feeds as they are at ``now``."""
        self.references.step(now)

    def check(self, now: datetime) -> dict[int, str]:
        """Check every stream due at ``now`` (in the pool); each checked stream's outcome."""
        ids = self.checker.due(now, 10_000)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="live-check") as pool:
            outcomes = dict(zip(ids, pool.map(lambda i: self.checker.check(i, now), ids),
                                strict=True))
        self._seal_if_due(now)
        return outcomes

    def run_until(self, stop: threading.Event,
                  started: Callable[[], None] | None = None) -> None:
        """Ingest and check until ``stop`` is set; then finish the checks in progress and seal
        the evidence file. Raises :class:`swordnet.core.service_lock.ServiceAlreadyRunning`
        (naming it) if another live service runs against the database; ``started`` is called
        once this one holds the database."""
        lock = ServiceLock(self.db, "live")
        lock.acquire(f"{self.workers} checker threads")
        try:
            if started is not None:
                started()
            self._run(stop, lock)
        finally:
            lock.release()

    def _run(self, stop: threading.Event, lock: ServiceLock) -> None:
        with self.db.session() as session:
            recover(session, self.checker.evidence.store)
        ingest = threading.Thread(target=self._ingest_until, args=(stop,), name="live-ingest",
                                  daemon=True)
        ingest.start()
        running: dict[int, Future[str]] = {}
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="live-check")
        beaten = self.clock()
        try:
            while not stop.is_set():
                now = self.clock()
                if now - beaten >= timedelta(seconds=HEARTBEAT_S):
                    beaten = now
                    try:
                        lock.heartbeat()
                    except SQLAlchemyError as exc:  # a busy database: the next beat may do
                        log.warning("heartbeat failed: %s", exc)
                for stream_id in [i for i, f in running.items() if f.done()]:
                    del running[stream_id]
                free = self.workers - len(running)
                if free > 0:
                    try:
                        due = self.checker.due(now, free + len(running))
                    except Exception:  # a busy or unreachable database: next tick
                        log.exception("cannot read the streams due")
                        due = []
                    for stream_id in [i for i in due if i not in running][:free]:
                        running[stream_id] = pool.submit(self.checker.check, stream_id, now)
                self._seal_if_due(now)
                if running and len(running) >= self.workers:
                    wait(running.values(), timeout=self.tick_s, return_when="FIRST_COMPLETED")
                else:
                    stop.wait(self.tick_s)
        finally:
            pool.shutdown(wait=True)  # the checks in progress finish and are recorded
            ingest.join()
            self._seal()

    def _ingest_until(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.references.step(self.clock())
            except Exception:
                log.exception("reference ingest failed; trying again")
            stop.wait(self.tick_s)

    def _seal_if_due(self, now: datetime) -> None:
        if self._sealed_at is None:
            self._sealed_at = now
        elif now - self._sealed_at >= self.seal_every:
            self._sealed_at = now
            self._seal()

    def _seal(self) -> None:
        try:
            with self.db.session() as session:
                sealed = self.checker.evidence.seal(session)
            if sealed:
                log.info("sealed %s", ", ".join(warc.filename for warc in sealed))
        except Exception:  # the file stays in open/, where recovery seals it
            log.exception("cannot seal the live evidence file")
