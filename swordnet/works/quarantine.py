"""The quarantine rule: a work that suddenly matches far more copies than usual is held.

A fingerprint that starts matching everything (a near-generic image registered by mistake,
a logo, a too-loose per-work threshold) would flood the review queue with false hits. During
a crawl run, each work's new hits are counted; when the count passes
``max(MIN_HITS, FACTOR x the most new hits that work had in any earlier run)``, the work is
quarantined: every hit of it from this run, and any later one, is flagged ``quarantined``
and can only be confirmed one by one, deliberately; staff release the work once its
fingerprint is fixed or the burst is explained.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from swordnet.core.errors import Conflict, NotFound
from swordnet.core.models import Hit, Work
from swordnet.core.timeutil import utcnow

MIN_HITS = 20
FACTOR = 5.0


class QuarantineWatch:
    """Counts one run's new hits per work and quarantines a work whose count bursts."""

    def __init__(self, run_id: int, min_hits: int = MIN_HITS, factor: float = FACTOR) -> None:
        self.run_id = run_id
        self.min_hits = min_hits
        self.factor = factor
        self.new_hits: Counter[int] = Counter()
        self._usual: dict[int, int] = {}

    def usual(self, session: Session, work_id: int) -> int:
        """The most new hits this work had in any earlier run."""
        if work_id not in self._usual:
            per_run = (select(func.count().label("n")).where(
                Hit.work_id == work_id, Hit.run_id != self.run_id).group_by(Hit.run_id)
                .subquery())
            self._usual[work_id] = session.scalar(select(func.max(per_run.c.n))) or 0
        return self._usual[work_id]

    def limit(self, session: Session, work_id: int) -> int:
        """New hits this work may have in this run before it is quarantined."""
        return max(self.min_hits, int(self.factor * self.usual(session, work_id)))

    def note_new_hit(self, session: Session, hit: Hit) -> None:
        """Flag ``hit`` if its work is (or now becomes) quarantined."""
        work = session.get(Work, hit.work_id)
        assert work is not None
        self.new_hits[work.id] += 1
        count = self.new_hits[work.id]
        if work.quarantined_at is None and count > self.limit(session, work.id):
            work.quarantined_at = utcnow()
            work.quarantine_reason = (
                f"run {self.run_id} matched {count} distinct copies; earlier runs matched at "
                f"most {self.usual(session, work.id)}, limit {self.limit(session, work.id)}")
            session.execute(update(Hit).where(
                Hit.work_id == work.id, Hit.run_id == self.run_id, Hit.status == "pending",
            ).values(quarantined=True))
        if work.quarantined_at is not None:
            hit.quarantined = True


def release(session: Session, work_id: int) -> Work:
    """Lift a work's quarantine; hits already flagged stay flagged until reviewed."""
    work = session.get(Work, work_id)
    if work is None:
        raise NotFound(f"no work with id {work_id}")
    if work.quarantined_at is None:
        raise Conflict(f"work {work_id} is not quarantined")
    work.quarantined_at = None
    work.quarantine_reason = None
    return work
