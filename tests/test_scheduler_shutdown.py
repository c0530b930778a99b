"""Stopping the scheduler while a job that reads the job store is still running (the sync
job does, every few seconds): the stop must wait for the job, and the job must get its
answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job

from scheduler.service import build_scheduler
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database

# Only ends a hang: a shutdown that works returns as soon as the job has read the store.
HANG_S = 120


class SignallingExecutor(ThreadPoolExecutor):
    """A thread pool that says when it is told to shut down."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.shutting_down = threading.Event()

    def shutdown(self, wait: bool = True) -> None:
        self.shutting_down.set()
        super().shutdown(wait)


@pytest.fixture
def db(sqlite_home: Settings) -> Iterator[Database]:
    database = open_database(sqlite_home)
    yield database
    database.engine.dispose()


def test_stop_waits_for_a_running_job_that_reads_the_job_store(db: Database) -> None:
    scheduler = build_scheduler(db, max_concurrent=1)
    executor = SignallingExecutor()
    scheduler.add_executor(executor, "signalling")
    running = threading.Event()
    read: list[list[Job]] = []

    def reads_the_store_while_stopping() -> None:
        running.set()
        executor.shutting_down.wait(HANG_S)
        read.append(scheduler.get_jobs())

    scheduler.start()
    scheduler.add_job(reads_the_store_while_stopping, id="reader", jobstore="internal",
                      executor="signalling")
    assert running.wait(HANG_S)
    stopping = threading.Thread(target=scheduler.shutdown, daemon=True)
    stopping.start()
    stopping.join(HANG_S)
    assert not stopping.is_alive(), "the scheduler's stop and its running job wait for each other"
    assert len(read) == 1  # the job finished, with the store's answer
