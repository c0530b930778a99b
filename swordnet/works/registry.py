"""The works registry: registering works and their fingerprints, and loading the match index.

This is where the pure :mod:`matching` package meets the database. Fingerprints are computed
before anything is written, so content that cannot be fingerprinted stores nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from hashlib import sha256
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from matching.match_index import MatchIndex
from matching.registry import content_for, name_signals, signals_of_work, supported_kinds
from matching.signal import Content
from matching.stages import registration_fingerprints
from swordnet.core.categories import DEFAULT_CATEGORY, MEDIA_KIND_OF, resolve_kind
from swordnet.core.db import lock_for_writing
from swordnet.core.errors import BadInput, Conflict, NotFound
from swordnet.core.models import (
    AllowlistEntry,
    Fingerprint,
    Hit,
    HitDecision,
    NoticeUrl,
    RightsHolder,
    Tip,
    WatchTarget,
    Work,
)
from swordnet.core.text import check_text
from swordnet.evidence.store import EvidenceStore
from swordnet.works.metadata import parse_metadata
from swordnet.works.previews import store_work_preview, store_work_sound
from swordnet.works.software_previews import store_software_preview
from swordnet.works.video_previews import store_video_preview


class RegistrationError(BadInput):
    """A work that cannot be registered as asked."""


class WorkInUse(Conflict):
    """A work that cannot be deleted: some of its hits are evidence."""


@dataclass(frozen=True)
class Registration:
    work: Work
    created: bool
    added_fingerprints: int = 0  # to an existing work: signals it was registered without


def holder_by_name(session: Session, name: str) -> RightsHolder:
    """The rights holder called ``name``, created on first use."""
    name = name.strip()
    if not name:
        raise RegistrationError("rights holder name is empty")
    holder = session.scalar(select(RightsHolder).where(RightsHolder.name == name))
    if holder is None:
        holder = RightsHolder(name=name)
        session.add(holder)
        session.flush()
    return holder


def name_fingerprints(title: str, aliases: Sequence[str] = ()) -> list[tuple[str, str, str]]:
    """``(algorithm, variant, value)`` of the signals registered from a work's title and
    aliases (the link signal: one value, one name per line; names too short to be telling
    are left out).

    >>> name_fingerprints("The Matrix", ["黑客帝国", "Up"])
    [('link', 'names', 'the matrix\\n黑客帝国')]
    >>> name_fingerprints("Up")
    []
    """
    return [(signal.name, variant, value) for signal in name_signals()
            for variant, value in signal.name_variants([title, *aliases]).items()]


def _check_category(kind: str, category: str | None) -> str:
    if category is None:
        return DEFAULT_CATEGORY.get(kind, "text")
    if MEDIA_KIND_OF.get(category) != kind:
        raise RegistrationError(f"category {category!r} is not registered as a {kind} work")
    return category


def _check_names(title: str, aliases: Sequence[str], kind: str) -> tuple[str, list[str]]:
    title = title.strip()
    if not title:
        raise RegistrationError("work title is empty")
    if kind not in supported_kinds():
        raise RegistrationError(
            f"kind {kind!r} is not supported yet (supported: {', '.join(supported_kinds())})")
    cleaned = [a.strip() for a in aliases]
    if any(not a for a in cleaned):
        raise RegistrationError("an alias is empty")
    check_text(title, "title")  # as the database would refuse them, before anything is stored
    check_text(cleaned, "aliases")
    return title, cleaned


def _store(session: Session, holder_name: str, digest: str, fingerprints: list[tuple[str, str,
           str]], previews: Callable[[Work], None] | None = None,
           **fields: object) -> Registration:
    """Store a new work, or add the fingerprints it lacks to the holder's work with
    ``digest``. ``previews`` keeps the work's previews (those it lacks) before its row is
    written, so a new work is one INSERT."""
    holder = holder_by_name(session, holder_name)
    existing = session.scalar(
        select(Work).where(Work.holder_id == holder.id, Work.sha256 == digest))
    if existing is not None:
        have = {(fp.algorithm, fp.variant) for fp in existing.fingerprints}
        missing = [Fingerprint(algorithm=algorithm, variant=variant, value=value)
                   for algorithm, variant, value in fingerprints
                   if (algorithm, variant) not in have]
        existing.fingerprints.extend(missing)
        if previews is not None:
            previews(existing)
        session.flush()
        return Registration(existing, created=False, added_fingerprints=len(missing))
    work = Work(holder=holder, sha256=digest, **fields)
    if previews is not None:
        previews(work)
    session.add(work)
    session.flush()
    if fingerprints:  # one bulk INSERT, not the unit of work's (1.1 of 3.3 ms a registration)
        session.execute(insert(Fingerprint), [
            {"work_id": work.id, "algorithm": algorithm, "variant": variant, "value": value}
            for algorithm, variant, value in fingerprints])
    return Registration(work, created=True)  # work.fingerprints loads them when read


def _keep_previews(store: EvidenceStore, work: Work, content: Content) -> None:
    """Keep the previews ``work`` lacks: the one reviewers see (a picture's thumbnail, a
    video's key frames, a software work's parts) and a video work's soundtrack."""
    if work.preview_sha256 is None:
        store_work_preview(store, work, content)
        store_video_preview(store, work, content.raw)  # key frames (video works)
        store_software_preview(store, work, content.raw)  # parts (software works)
    if work.sound_sha256 is None:
        store_work_sound(store, work, content.raw)  # a video work's soundtrack


def register_work(
    session: Session,
    content: bytes,
    *,
    title: str,
    holder_name: str,
    kind: str = "image",
    category: str | None = None,
    source_name: str | None = None,
    aliases: Sequence[str] = (),
    metadata: Mapping[str, Any] | None = None,
    preview_store: EvidenceStore | None = None,
) -> Registration:
    """Fingerprint ``content`` and store it as a work of ``holder_name``.

    The work's title and aliases are registered for the link signal too. The same content
    registered twice for the same holder returns the existing work, after adding any
    fingerprint it lacks (a work registered before a signal type existed gains it this
    way). ``category`` (default: the kind's) and ``metadata`` (registration fields, see
    :func:`swordnet.works.metadata.parse_metadata`) are kept for a new work; an existing
    one keeps its own. With ``preview_store``, a preview for reviewers is kept there too
    (and a video work's soundtrack beside its key frames); registering the same content
    again keeps whichever of them the work lacks. Raises :class:`RegistrationError`,
    :class:`swordnet.works.metadata.MetadataError`,
    :class:`swordnet.core.text.UnusableText` or :class:`matching.signal.ContentRejected`.
    """
    title, aliases = _check_names(title, aliases, kind)
    check_text(source_name, "source name")  # before a preview is stored, as the title
    fields = parse_metadata(metadata or {})
    category = _check_category(kind, category)
    shared = content_for(kind, content)  # decoded once: fingerprints and preview
    fingerprints = registration_fingerprints(kind, shared) + name_fingerprints(title, aliases)
    return _store(session, holder_name, sha256(content).hexdigest(), fingerprints,
                  None if preview_store is None else partial(_keep_previews, preview_store,
                                                              content=shared),
                  title=title, kind=kind, category=category, source_name=source_name,
                  aliases=aliases, **fields)


def register_precomputed(
    session: Session,
    *,
    title: str,
    holder_name: str,
    kind: str,
    fingerprints: Sequence[tuple[str, str, str]],
    aliases: Sequence[str] = (),
    category: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    source_name: str | None = None,
) -> Registration:
    """Store a work from fingerprints computed elsewhere, already validated (see
    :mod:`swordnet.works.precomputed`). Its identity is the digest of its sorted fingerprints."""
    title, aliases = _check_names(title, aliases, kind)
    fields = parse_metadata(metadata or {})
    category = _check_category(kind, category)
    canonical = json.dumps(sorted(fingerprints), ensure_ascii=False, separators=(",", ":"))
    return _store(session, holder_name, sha256(canonical.encode()).hexdigest(),
                  [*fingerprints, *name_fingerprints(title, aliases)], title=title, kind=kind,
                  category=category, source_name=source_name, aliases=aliases, **fields)


def edit_registration(work: Work, metadata: Mapping[str, Any], kind: str | None = None) -> Work:
    """Change ``work``'s registration fields (only those ``metadata`` names; an empty value
    clears one) and, with ``kind``, its category: a category or media kind of the same media
    kind (a video work can be film or audiovisual, not music: its signals stay). Checks
    everything before changing anything."""
    fields = parse_metadata(metadata)
    if kind is not None:
        resolved = resolve_kind(kind)
        if resolved.kind != work.kind:
            choices = [c for c, k in MEDIA_KIND_OF.items() if k == work.kind]
            raise RegistrationError(
                f"kind {kind!r} is a {resolved.kind} kind; work {work.id} is fingerprinted "
                f"as {work.kind} (its category can be {' or '.join(choices)})")
        fields["category"] = resolved.category
    for name, value in fields.items():
        setattr(work, name, value)
    return work


def delete_work_and_hits(session: Session, work: Work) -> None:
    """Delete a work with its fingerprints, its pending and rejected hits (and their review
    history) and its allowlist entries; tips and search targets naming it forget it.
    Refused with :class:`WorkInUse` while any of its hits is confirmed, in a case or named
    in a notice: those are evidence. Crawls already running keep matching it until they
    end. Its hits are locked first, so a decision on one of them comes wholly before or
    after."""
    lock_for_writing(session)
    session.scalars(select(Hit.id).where(Hit.work_id == work.id).with_for_update()).all()
    evidence = session.scalar(select(func.count()).where(
        Hit.work_id == work.id,
        Hit.status.in_(("confirmed", "auto_confirmed")) | Hit.case_id.is_not(None)
        | Hit.id.in_(select(NoticeUrl.hit_id)))) or 0
    if evidence:
        raise WorkInUse(f"work {work.id} has {evidence} hit{'s' * (evidence != 1)} kept as "
                        "evidence (confirmed, in a case or named in a notice); it cannot be "
                        "deleted (undo them first, or keep the work)")
    hit_ids = select(Hit.id).where(Hit.work_id == work.id).scalar_subquery()
    session.execute(delete(HitDecision).where(HitDecision.hit_id.in_(hit_ids)))
    session.execute(delete(Hit).where(Hit.work_id == work.id))
    session.execute(delete(AllowlistEntry).where(AllowlistEntry.work_id == work.id))
    session.execute(update(Tip).where(Tip.work_id == work.id).values(work_id=None))
    for target in session.scalars(select(WatchTarget)):
        if work.id in target.work_ids:
            target.work_ids = [i for i in target.work_ids if i != work.id]
    session.execute(delete(Fingerprint).where(Fingerprint.work_id == work.id))
    session.expire(work)
    session.execute(delete(Work).where(Work.id == work.id))


@dataclass(frozen=True)
class IndexedFingerprint:
    id: int
    work_id: int
    algorithm: str
    value: str
    variant: str
    threshold: float | None


LOAD_BATCH = 1000  # rows read from the database at a time when loading a match index


def fingerprints_since(session: Session, after_id: int = 0, *,
                       covered: tuple[Sequence[str], int] | None = None
                       ) -> Iterator[IndexedFingerprint]:
    """Fingerprints registered after ``after_id``, oldest first, with their work's threshold.

    ``covered=(algorithms, upto)`` leaves out those algorithms' fingerprints up to id
    ``upto`` (an index file holds them already). Rows are read :data:`LOAD_BATCH` at a time
    while the caller consumes them: a crawl worker that held every row of a large registry
    at once would keep most of their memory after freeing them, because the few objects the
    index keeps (each work's names) are scattered across it (30,000 works: 17 MB, streamed
    8 MB).
    """
    query = select(Fingerprint.id, Fingerprint.work_id, Fingerprint.algorithm,
                   Fingerprint.value, Fingerprint.variant, Work.thresholds).join(Work).where(
        Fingerprint.id > after_id)
    if covered is not None:
        # the algorithms not covered, named (the column's index finds their rows), rather
        # than NOT IN the covered ones, which reads every row of the table, large values and
        # all (30,000 image works: 0.8 s of a worker's start)
        others = sorted(set(session.scalars(select(Fingerprint.algorithm).distinct()))
                        - set(covered[0]))
        query = query.where(Fingerprint.algorithm.in_(others) | (Fingerprint.id > covered[1]))
    rows = session.execute(query.order_by(Fingerprint.id).execution_options(
        yield_per=LOAD_BATCH))
    for fp_id, work_id, algorithm, value, variant, thresholds in rows:
        yield IndexedFingerprint(fp_id, work_id, algorithm, value, variant,
                                 thresholds.get(algorithm))


def set_threshold(session: Session, work_id: int, algorithm: str, value: float | None) -> Work:
    """Override (or with ``None`` restore) the default threshold of one of a work's signals."""
    work = session.get(Work, work_id)
    if work is None:
        raise NotFound(f"no work with id {work_id}")
    known = {s.name for s in signals_of_work(work.kind)}
    if algorithm not in known:
        raise RegistrationError(f"work {work_id} ({work.kind}) has no {algorithm!r} signal "
                                f"(its signals: {', '.join(sorted(known))})")
    if value is not None and value < 0:
        raise RegistrationError(f"threshold must not be negative, got {value:g}")
    thresholds = {k: v for k, v in work.thresholds.items() if k != algorithm}
    work.thresholds = thresholds if value is None else {**thresholds, algorithm: value}
    return work


def thresholds_in_force(work: Work) -> dict[str, float]:
    """The threshold of each of ``work``'s signals now: its override, else the default."""
    return {s.name: float(work.thresholds.get(s.name, s.default_threshold))
            for s in signals_of_work(work.kind)}


def extend_match_index(index: MatchIndex, fingerprints: Iterable[IndexedFingerprint]
                       ) -> tuple[int, int]:
    """Add fingerprints to a live index: newly registered works match without a rebuild.
    Returns how many were added and the newest id among them (0 if none)."""
    added, newest = 0, 0

    def rows() -> Iterator[tuple[int, int, str, str, str, float | None]]:
        nonlocal added, newest
        for fp in fingerprints:
            added, newest = added + 1, max(newest, fp.id)
            yield fp.id, fp.work_id, fp.algorithm, fp.value, fp.variant, fp.threshold

    index.extend(rows())
    return added, newest


def load_match_index(session: Session) -> MatchIndex:
    """Build the match index from every registered fingerprint."""
    index = MatchIndex()
    extend_match_index(index, fingerprints_since(session))
    return index


def search_queries(session: Session, work_ids: list[int] | None = None) -> list[str]:
    """Titles and aliases of the given works (every work when none are given), each once
    (compared without case), in registration order: what a search spider types in."""
    query = select(Work).order_by(Work.id)
    if work_ids:
        query = query.where(Work.id.in_(work_ids))
    seen: dict[str, str] = {}
    for work in session.scalars(query):
        for text in [work.title, *work.aliases]:
            text = " ".join(str(text).split())
            if text:
                seen.setdefault(text.casefold(), text)
    return list(seen.values())
