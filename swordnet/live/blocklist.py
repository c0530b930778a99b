"""The blocking list: confirmed restreams' FQDNs and addresses, listed, held back as shared
infrastructure, overridden or withdrawn, and exported as blocking platforms ingest them.

Nothing is listed without confirmation: :func:`confirm_and_list` confirms the stream's hit
through the usual review (its site's case, a ``hit_confirmed`` custody event), or
:func:`auto_confirm` applies the event's rule. A stream is listed by its FQDN (when its host is
a name) and by the IPv4/IPv6 addresses it was actually fetched from (its checks' captures, or
its host when that is an IP literal); DNS is not asked again, so every listed address is one
Swordnet has evidence of. An address that is shared infrastructure
(:mod:`swordnet.live.infrastructure`) is recorded but not listed until staff override it with
a reason. Every listing, holding back, override and withdrawal is a custody event on the case.

Exports (:func:`export_rows`) merge an address's entries across events: it is listed while
any of its entries is, and withdrawn once all are; times are UTC ISO-8601.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.custody import append_event
from casefiles.review import confirm_hit
from swordnet.core.db import lock_for_writing
from swordnet.core.errors import BadInput, Conflict, NotFound
from swordnet.core.models import (
    BLOCK_KINDS,
    BlockEntry,
    Capture,
    Case,
    Hit,
    LiveCheck,
    LiveEvent,
    LiveStream,
)
from swordnet.core.outbound import host_address
from swordnet.live.infrastructure import shared_reason

EXPORT_FORMATS = ("csv", "json", "txt")
ENTRY_STATES = ("listed", "held", "withdrawn")
CSV_COLUMNS = ("kind", "value", "status", "first_seen", "last_seen", "listed_at",
               "withdrawn_at")
MAX_REASON = 2000


def utc_iso(moment: datetime | None) -> str | None:
    """``moment`` as UTC ISO-8601 with a ``Z``, to the second.

    >>> utc_iso(datetime(2026, 12, 6, 16, 0, 5, 123, tzinfo=UTC))
    '2026-12-06T16:00:05Z'
    """
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address as listed: an IPv4-mapped IPv6 address is its IPv4 address."""
    address = ipaddress.ip_address(value.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def fqdn_of(host: str) -> str:
    """A host name as listed: lowercase, IDNA (punycode), no trailing dot.

    >>> fqdn_of("Stream.Bücher.example.")
    'stream.xn--bcher-kva.example'
    """
    name = host.strip().rstrip(".").lower()
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        raise BadInput(f"host {host!r} is not a valid domain name") from None


@dataclass(frozen=True)
class Seen:
    """An address of a stream and when Swordnet saw the stream there."""

    kind: str
    value: str
    first: datetime
    last: datetime


def stream_addresses(session: Session, stream: LiveStream, at: datetime) -> list[Seen]:
    """The FQDN (when the host is a name) and the IPs a stream was fetched from: its checks'
    playlist and segment captures (with their fetch times), or its host when an IP literal."""
    host = urlsplit(stream.url).hostname or ""
    last_checked = stream.last_checked_at or stream.matched_at or at
    found: dict[tuple[str, str], Seen] = {}

    def see(kind: str, value: str, first: datetime, last: datetime) -> None:
        known = found.get((kind, value))
        if known is not None:
            first, last = min(first, known.first), max(last, known.last)
        found[(kind, value)] = Seen(kind, value, first, last)

    literal = host_address(host) if host else None
    if literal is None and host:
        see("fqdn", fqdn_of(host), stream.found_at, max(stream.found_at, last_checked))
    elif literal is not None:
        address = _address(str(literal))
        see(f"ipv{address.version}", str(address), stream.found_at,
            max(stream.found_at, last_checked))
    capture_ids = select(LiveCheck.playlist_capture_id).where(LiveCheck.stream_id == stream.id)\
        .union(select(LiveCheck.segment_capture_id).where(LiveCheck.stream_id == stream.id))
    for ip, fetched_at in session.execute(select(Capture.ip, Capture.fetched_at).where(
            Capture.id.in_(capture_ids.scalar_subquery()), Capture.ip.is_not(None))):
        try:
            address = _address(ip or "")
        except ValueError:
            continue  # a capture whose recorded IP is not an address lists nothing
        see(f"ipv{address.version}", str(address), fetched_at, fetched_at)
    return sorted(found.values(), key=lambda s: (BLOCK_KINDS.index(s.kind), s.value))


def _locked_stream(session: Session, stream_id: int) -> LiveStream:
    """The stream and its event, locked in that order (on PostgreSQL the event's row lock
    serialises the creation of its entries, which are unique per event and address)."""
    lock_for_writing(session)
    stream = session.get(LiveStream, stream_id, with_for_update=True, populate_existing=True)
    if stream is None:
        raise NotFound(f"no live stream with id {stream_id}")
    session.get(LiveEvent, stream.event_id, with_for_update=True)
    return stream


def _entry_payload(entry: BlockEntry) -> dict[str, Any]:
    return {"entry_id": entry.id, "kind": entry.kind, "value": entry.value,
            "event_id": entry.event_id, "stream_id": entry.stream_id,
            "first_seen": utc_iso(entry.first_seen_at), "last_seen": utc_iso(entry.last_seen_at)}


# The custody event that records a confirmed stream's address already on the list, by the
# entry's state.
_JOINED = {"listed": "blocklist_listed", "held": "blocklist_held_back",
           "withdrawn": "blocklist_kept_withdrawn"}


def _list_addresses(session: Session, stream: LiveStream, case: Case, *, actor: str,
                    at: datetime, confirming: bool) -> list[BlockEntry]:
    """Create or update the stream's entries: new ones listed, or held back when shared;
    each new listing or holding back is a custody event on ``case``. When ``confirming``,
    an address already entered for another stream of the event is recorded on ``case`` too
    (the entry keeps its state: a withdrawn one stays withdrawn)."""
    entries = []
    for seen in stream_addresses(session, stream, at):
        entry = session.scalar(select(BlockEntry).where(
            BlockEntry.event_id == stream.event_id, BlockEntry.kind == seen.kind,
            BlockEntry.value == seen.value).with_for_update())
        if entry is not None:
            first, last = min(entry.first_seen_at, seen.first), max(entry.last_seen_at, seen.last)
            if (first, last) != (entry.first_seen_at, entry.last_seen_at):
                entry.first_seen_at, entry.last_seen_at, entry.changed_at = first, last, at
            if confirming and entry.stream_id != stream.id:
                append_event(session, case, _JOINED[entry_state(entry)],
                             {**_entry_payload(entry), "stream_id": stream.id,
                              "entered_for_stream": entry.stream_id,
                              "entered_in_case": entry.case_id}, actor)
            entries.append(entry)
            continue
        reason = None if seen.kind == "fqdn" else shared_reason(session, _address(seen.value))
        entry = BlockEntry(event_id=stream.event_id, stream_id=stream.id, case_id=case.id,
                           kind=seen.kind, value=seen.value, first_seen_at=seen.first,
                           last_seen_at=seen.last, listed_at=None if reason else at,
                           listed_by=None if reason else actor,
                           shared_infrastructure=reason is not None, shared_reason=reason,
                           changed_at=at)
        session.add(entry)
        session.flush()
        payload = _entry_payload(entry)
        if reason:
            append_event(session, case, "blocklist_held_back",
                         {**payload, "shared_infrastructure": reason}, actor)
        else:
            append_event(session, case, "blocklist_listed", payload, actor)
        entries.append(entry)
    return entries


def confirm_and_list(session: Session, stream_id: int, *, actor: str,
                     at: datetime) -> list[BlockEntry]:
    """Confirm a matched stream's hit (the usual review: case, custody log) and list its FQDN
    and its IPs (IPs of shared infrastructure held back); raises Conflict when the stream has
    no match."""
    return _confirm_and_list(session, stream_id, actor=actor, at=at, automatic=None)


def _confirm_and_list(session: Session, stream_id: int, *, actor: str, at: datetime,
                      automatic: str | None) -> list[BlockEntry]:
    stream = _locked_stream(session, stream_id)
    if stream.hit_id is None:
        raise Conflict(f"live stream {stream_id} has no match ({stream.state}); only a matched "
                       "stream can be confirmed and listed")
    if stream.listed_at is not None:
        raise Conflict(f"live stream {stream_id} was already listed at {utc_iso(stream.listed_at)}")
    hit = session.get(Hit, stream.hit_id, populate_existing=True)
    assert hit is not None
    if hit.status == "pending":
        case = confirm_hit(session, hit.id, actor, automatic=automatic)
    elif hit.status in ("confirmed", "auto_confirmed") and hit.case_id is not None:
        found = session.get(Case, hit.case_id)
        assert found is not None
        case = found
    else:
        raise Conflict(f"live stream {stream_id}'s hit {hit.id} was {hit.status}; a rejected "
                       "match is not listed")
    entries = _list_addresses(session, stream, case, actor=actor, at=at, confirming=True)
    stream.state, stream.listed_at = "listed", at
    return entries


def auto_confirm(session: Session, stream_id: int, *, at: datetime) -> list[BlockEntry] | None:
    """Apply the event's auto-confirm rule to a stream just matched: confirm and list it when
    its score reaches the rule's; None when the rule does not apply."""
    stream = _locked_stream(session, stream_id)
    event = session.get(LiveEvent, stream.event_id)
    assert event is not None
    rule = event.auto_confirm_score
    if (rule is None or stream.score is None or stream.score < rule or stream.hit_id is None
            or stream.listed_at is not None):
        return None
    hit = session.get(Hit, stream.hit_id)
    if hit is None or hit.status != "pending" or hit.quarantined:
        return None  # decided already, or held by its work's flood quarantine for a reviewer
    set_by = event.auto_confirm_set_by or "unknown"
    actor = f"auto-confirm rule of live event {event.id} (score >= {rule:g}, set by {set_by})"
    return _confirm_and_list(session, stream_id, actor=actor[:200], at=at,
                             automatic=f"live event {event.id}'s auto-confirm rule: score "
                                       f"{stream.score:.3f} >= {rule:g}, set by {set_by}")


def record_seen(session: Session, stream_id: int, *, actor: str,
                at: datetime) -> list[BlockEntry]:
    """After a listed stream's new check: extend its entries' last-seen times, and list any
    address it is now fetched from (shared ones held back). Nothing for a stream not listed, or
    withdrawn; a withdrawn entry stays withdrawn."""
    stream = _locked_stream(session, stream_id)
    if (stream.listed_at is None or stream.state == "withdrawn" or stream.hit is None
            or stream.hit.case_id is None):
        return []
    case = session.get(Case, stream.hit.case_id)
    assert case is not None
    return _list_addresses(session, stream, case, actor=actor, at=at, confirming=False)


def _reason(reason: str, what: str) -> str:
    reason = reason.strip()
    if not reason:
        raise BadInput(f"reason: give the reason for the {what} (it goes in the custody log)")
    if len(reason) > MAX_REASON:
        raise BadInput(f"reason: at most {MAX_REASON} characters")
    return reason


def _locked_entry(session: Session, entry_id: int) -> tuple[BlockEntry, Case]:
    lock_for_writing(session)
    entry = session.get(BlockEntry, entry_id, with_for_update=True, populate_existing=True)
    if entry is None:
        raise NotFound(f"no blocking-list entry with id {entry_id}")
    case = session.get(Case, entry.case_id) if entry.case_id is not None else None
    if case is None:
        raise Conflict(f"blocking-list entry {entry_id} has no case to record the change in")
    return entry, case


def override_shared(session: Session, entry_id: int, *, reason: str, actor: str,
                    at: datetime) -> BlockEntry:
    """List an address held back as shared infrastructure anyway, for ``reason`` (kept in the
    case's custody log). Raises BadInput without a reason, Conflict unless held back."""
    reason = _reason(reason, "override")
    entry, case = _locked_entry(session, entry_id)
    if entry.withdrawn_at is not None:
        raise Conflict(f"blocking-list entry {entry_id} ({entry.value}) was withdrawn")
    if entry.listed_at is not None:
        raise Conflict(f"blocking-list entry {entry_id} ({entry.value}) is already listed")
    entry.listed_at, entry.listed_by, entry.changed_at = at, actor, at
    entry.override_reason, entry.override_by = reason, actor
    append_event(session, case, "blocklist_override",
                 {**_entry_payload(entry), "shared_infrastructure": entry.shared_reason,
                  "reason": reason}, actor)
    return entry


def withdraw_entry(session: Session, entry_id: int, *, reason: str, actor: str,
                   at: datetime) -> BlockEntry:
    """Take a listed address off the list, for ``reason`` (a custody event); the withdrawal
    is exported. A stream whose every listed entry is withdrawn becomes ``withdrawn``."""
    reason = _reason(reason, "withdrawal")
    entry, case = _locked_entry(session, entry_id)
    if entry.withdrawn_at is not None:
        raise Conflict(f"blocking-list entry {entry_id} ({entry.value}) was already withdrawn "
                       f"at {utc_iso(entry.withdrawn_at)}")
    if entry.listed_at is None:
        raise Conflict(f"blocking-list entry {entry_id} ({entry.value}) is not listed (held "
                       "back as shared infrastructure); there is nothing to withdraw")
    entry.withdrawn_at, entry.withdrawn_by, entry.withdraw_reason = at, actor, reason
    entry.changed_at = at
    append_event(session, case, "blocklist_withdrawn",
                 {**_entry_payload(entry), "reason": reason}, actor)
    if entry.stream_id is not None:
        still_listed = session.scalar(select(BlockEntry.id).where(
            BlockEntry.stream_id == entry.stream_id, BlockEntry.listed_at.is_not(None),
            BlockEntry.withdrawn_at.is_(None)).limit(1))
        stream = session.get(LiveStream, entry.stream_id)
        if still_listed is None and stream is not None:
            stream.state = "withdrawn"
    return entry


def entry_state(entry: BlockEntry) -> str:
    """listed, held (back: shared infrastructure) or withdrawn."""
    if entry.withdrawn_at is not None:
        return "withdrawn"
    return "listed" if entry.listed_at is not None else "held"


def check_kind(kind: str | None) -> str | None:
    """``kind`` if it is one of :data:`BLOCK_KINDS` (or None); BadInput otherwise."""
    if kind is not None and kind not in BLOCK_KINDS:
        raise BadInput(f"kind {kind!r} is not one of {', '.join(BLOCK_KINDS)}")
    return kind


def entries(session: Session, *, kind: str | None = None, state: str | None = None,
            event_id: int | None = None, stream_id: int | None = None) -> list[BlockEntry]:
    """Entries, newest change first, filtered by kind, state, event and stream."""
    check_kind(kind)
    if state is not None and state not in ENTRY_STATES:
        raise BadInput(f"state {state!r} is not one of {', '.join(ENTRY_STATES)}")
    query = select(BlockEntry).order_by(BlockEntry.changed_at.desc(), BlockEntry.id.desc())
    if kind is not None:
        query = query.where(BlockEntry.kind == kind)
    if event_id is not None:
        query = query.where(BlockEntry.event_id == event_id)
    if stream_id is not None:
        query = query.where(BlockEntry.stream_id == stream_id)
    if state == "withdrawn":
        query = query.where(BlockEntry.withdrawn_at.is_not(None))
    elif state == "listed":
        query = query.where(BlockEntry.withdrawn_at.is_(None), BlockEntry.listed_at.is_not(None))
    elif state == "held":
        query = query.where(BlockEntry.withdrawn_at.is_(None), BlockEntry.listed_at.is_(None))
    return list(session.scalars(query))


# --- exports ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExportRow:
    """One address of the exported list: its entries across events merged."""

    kind: str
    value: str
    first_seen: datetime
    last_seen: datetime
    listed_at: datetime
    withdrawn_at: datetime | None  # None: on the list
    changed_at: datetime

    @property
    def status(self) -> str:
        return "withdrawn" if self.withdrawn_at is not None else "listed"

    def as_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind, "value": self.value, "status": self.status,
                "first_seen": utc_iso(self.first_seen), "last_seen": utc_iso(self.last_seen),
                "listed_at": utc_iso(self.listed_at), "withdrawn_at": utc_iso(self.withdrawn_at)}


def _sort_key(row: ExportRow) -> tuple[int, int, str]:
    if row.kind == "fqdn":
        return (0, 0, row.value)
    return (BLOCK_KINDS.index(row.kind), int(ipaddress.ip_address(row.value)), "")


def _merge(group: Sequence[BlockEntry]) -> ExportRow:
    active = [e for e in group if e.withdrawn_at is None]
    listed = [e.listed_at for e in (active or group) if e.listed_at is not None]
    withdrawn = [e.withdrawn_at for e in group if e.withdrawn_at is not None]
    return ExportRow(kind=group[0].kind, value=group[0].value,
                     first_seen=min(e.first_seen_at for e in group),
                     last_seen=max(e.last_seen_at for e in group), listed_at=min(listed),
                     withdrawn_at=None if active else max(withdrawn),
                     changed_at=max(e.changed_at for e in group))


def export_rows(session: Session, kind: str | None = None) -> list[ExportRow]:
    """Every address ever listed (of ``kind``, or all kinds): on the list, or withdrawn.
    Addresses held back as shared infrastructure were never listed and are not exported."""
    check_kind(kind)
    query = select(BlockEntry).where(BlockEntry.listed_at.is_not(None))
    if kind is not None:
        query = query.where(BlockEntry.kind == kind)
    groups: dict[tuple[str, str], list[BlockEntry]] = {}
    for entry in session.scalars(query):
        groups.setdefault((entry.kind, entry.value), []).append(entry)
    return sorted((_merge(group) for group in groups.values()), key=_sort_key)


def last_change(rows: Iterable[ExportRow]) -> datetime | None:
    """When the newest of ``rows`` last changed (the export's Last-Modified)."""
    return max((row.changed_at for row in rows), default=None)


def export_csv(rows: Sequence[ExportRow]) -> str:
    """The list as CSV: a header line, then one line per address, withdrawals included."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(row.as_dict() for row in rows)
    return out.getvalue()


def export_json(rows: Sequence[ExportRow]) -> str:
    """The list as JSON: ``{"updated": ..., "entries": [...]}``, withdrawals included."""
    return json.dumps({"updated": utc_iso(last_change(rows)),
                       "entries": [row.as_dict() for row in rows]}, indent=1) + "\n"


def export_text(rows: Sequence[ExportRow], kind: str, *, withdrawn: bool = False) -> str:
    """The plain-text list of one kind: one value a line, the listed addresses (or, with
    ``withdrawn``, the withdrawn ones)."""
    if check_kind(kind) is None:
        raise BadInput("kind: a text list is per kind; give fqdn, ipv4 or ipv6")
    return "".join(f"{row.value}\n" for row in rows
                   if row.kind == kind and (row.withdrawn_at is not None) == withdrawn)


def export(session: Session, fmt: str, kind: str | None = None,
           withdrawn: bool = False) -> tuple[str, datetime | None]:
    """The list in ``fmt`` (csv, json or txt) and when it last changed; raises BadInput for
    an unknown format or kind, or a text list without a kind."""
    if fmt not in EXPORT_FORMATS:
        raise BadInput(f"format {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    if withdrawn and fmt != "txt":
        raise BadInput("withdrawn: CSV and JSON already include withdrawals; the withdrawn list "
                       "on its own is a text list (format txt)")
    rows = export_rows(session, kind)
    if fmt == "csv":
        return export_csv(rows), last_change(rows)
    if fmt == "json":
        return export_json(rows), last_change(rows)
    if kind is None:
        raise BadInput("kind: a text list is per kind; give fqdn, ipv4 or ipv6")
    return export_text(rows, kind, withdrawn=withdrawn), last_change(rows)
