"""The database schema: every table of Swordnet's data model, as SQLAlchemy 2 typed models.

Status and kind columns are plain strings checked against the tuples below, so that adding a
state never needs an enum migration on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    inspect,
    or_,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from swordnet.core.categories import CATEGORIES, DEFAULT_CATEGORY
from swordnet.core.text import check_text
from swordnet.core.timeutil import utcnow

WORK_KINDS = ("image", "text", "video", "audio", "software")
SITE_STATUSES = ("active", "down", "shut_down")
RUN_OUTCOMES = ("running", "finished", "failed", "interrupted")
HIT_STATUSES = ("pending", "confirmed", "rejected", "auto_confirmed")
CASE_STATUSES = (
    "open",
    "notice_sent",
    "removed",
    "no_response",
    "escalated",
    "site_shut_down",
    "transferred_to_judiciary",
    "closed",
    "reopened",
)
CAPTURE_KINDS = ("page", "media", "screenshot")
SPIDERS = ("site", "search", "feed")
TIP_STATUSES = ("queued", "checking", "checked", "failed", "dismissed")
RUN_PURPOSES = ("watch", "campaign", "recheck", "tip", "manual")
# A URL under notice: not yet rechecked, still up, gone, or back after it was gone.
NOTICE_URL_STATUSES = ("unchecked", "present", "removed", "reappeared")
RECHECK_OUTCOMES = ("present", "removed", "undecided")
# A notice to email is queued, claimed by one sender (sending), then sent or failed; one
# whose sender died after handing it to the server is uncertain until staff settle it.
NOTICE_STATUSES = ("draft", "queued", "sending", "sent", "failed", "uncertain", "answered",
                   "bounced")
# email: sent by Swordnet over SMTP; manual: recorded as sent through staff's own channel.
NOTICE_DELIVERIES = ("manual", "email")
# Where a site's abuse contact came from, and what the lookup found.
ABUSE_CONTACT_SOURCES = ("rdap-domain", "rdap-ip", "staff")
ABUSE_CONTACT_OUTCOMES = ("found", "none", "failed", "set")
# admin: everything, including users; staff: monitoring and enforcement; rights_holder: one
# holder's own works, hits and cases.
ROLES = ("admin", "staff", "rights_holder")
HIT_DECISIONS = ("confirmed", "rejected", "undone")
# How a new hit is known to be a copy already confirmed in a case: the same bytes, or the
# same work at a score at least as close (staydown).
KNOWN_BY = ("sha256", "score")
MIRROR_PROPOSAL_STATUSES = ("proposed", "accepted", "declined")
# How a rights holder's consent to publishing a case was given: by the holder in the console,
# through the API or the CLI, or received offline and recorded by staff with a reference.
CONSENT_METHODS = ("console", "api", "cli", "offline")
# Live events: the official feed's health, a candidate restream's state, what one sample of a
# stream found, and the address kinds of the blocking list.
LIVE_FEED_STATES = ("waiting", "live", "dropped", "ended")
LIVE_STREAM_STATES = ("checking", "matched", "listed", "unmatched", "offline", "encrypted",
                      "refused", "withdrawn")
LIVE_CHECK_OUTCOMES = ("matched", "no_match", "no_reference", "offline", "not_found",
                       "encrypted", "refused", "too_large", "looping", "bad_playlist", "failed")
LIVE_FOUND_BY = ("crawl", "search", "tip", "staff")
BLOCK_KINDS = ("fqdn", "ipv4", "ipv6")
MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


@event.listens_for(Session, "before_flush")
def _refuse_unusable_text(session: Session, _context: Any, _instances: Any) -> None:
    """Refuse, before anything is written, any column value holding text that cannot be
    stored or shown (a NUL character, a lone surrogate; see :mod:`swordnet.core.text`), in text
    and JSON columns alike."""
    for obj in (*session.new, *session.dirty):
        state = inspect(obj)
        for column in state.mapper.column_attrs:
            check_text(state.dict.get(column.key), column.key.replace("_", " "))


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns timezone-aware UTC, on SQLite and PostgreSQL alike.

    Case events are hashed over their timestamps, so a timestamp must read back exactly as
    it was written whatever the backend.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use swordnet.core.timeutil.utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class EventPayload(TypeDecorator[dict[str, Any]]):
    """A custody event's JSON payload that reads back even if the stored text is not JSON
    (a tampered row): as ``{"unreadable_payload": <the text, cut short>}``, which no longer
    hashes to the event's hash, so the custody check names the event instead of crashing."""

    impl = JSON
    cache_ok = True

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        decode = self.impl_instance.result_processor(dialect, coltype)
        if decode is None:
            return None

        def process(value: Any) -> Any:
            try:
                return decode(value)
            except ValueError:
                return {"unreadable_payload": str(value)[:200]}

        return process


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class RightsHolder(Base):
    __tablename__ = "rights_holders"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    works: Mapped[list[Work]] = relationship(back_populates="holder")


def _default_category(context: Any) -> str:
    """A work registered without a category is registered as its media kind's default."""
    return DEFAULT_CATEGORY.get(context.get_current_parameters()["kind"], "text")


class Work(Base):
    """A registered work: what a rights holder wants found."""

    __tablename__ = "works"
    __table_args__ = (
        CheckConstraint(_in("kind", WORK_KINDS), name="ck_works_kind"),
        CheckConstraint(_in("category", CATEGORIES), name="ck_works_category"),
        UniqueConstraint("holder_id", "sha256", name="uq_works_holder_sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("rights_holders.id"), index=True)
    title: Mapped[str] = mapped_column(String(500))
    aliases: Mapped[list[Any]] = mapped_column(default=list)
    # The media kind (which signals fingerprint it) and the copyright category it is
    # registered as (see swordnet.core.categories).
    kind: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(20), default=_default_category)
    # What its copyright registration says (all optional; see swordnet.works.metadata).
    registration_number: Mapped[str | None] = mapped_column(String(100))
    registration_date: Mapped[date | None]
    registering_authority: Mapped[str | None] = mapped_column(String(200))
    author: Mapped[str | None] = mapped_column(String(500))
    first_published: Mapped[date | None]
    # ISO 3166-1 alpha-2 codes, or ["worldwide"]; empty: not said.
    licence_territories: Mapped[list[Any]] = mapped_column(default=list)
    source_name: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64))
    # Per-algorithm overrides of the signals' default thresholds, e.g. {"orb": 25}.
    thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set when the work suddenly matched far more copies than usual in one run: its new
    # hits are flagged and held for review until staff release it.
    quarantined_at: Mapped[datetime | None]
    quarantine_reason: Mapped[str | None] = mapped_column(Text)
    # What reviewers see of the work beside a found copy: a PNG thumbnail (images) or the
    # decoded text (text works), kept in the evidence store under this hash.
    preview_sha256: Mapped[str | None] = mapped_column(String(64))
    preview_type: Mapped[str | None] = mapped_column(String(10))
    # Its sound as mono Opus when its preview is something else (a video work's soundtrack
    # beside its key frames); an audio work's sound is its preview.
    sound_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    holder: Mapped[RightsHolder] = relationship(back_populates="works")
    fingerprints: Mapped[list[Fingerprint]] = relationship(
        back_populates="work", cascade="all, delete-orphan"
    )


class Fingerprint(Base):
    __tablename__ = "fingerprints"
    __table_args__ = (
        UniqueConstraint("work_id", "algorithm", "variant", name="uq_fingerprints_variant"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    work_id: Mapped[int] = mapped_column(ForeignKey("works.id", ondelete="CASCADE"), index=True)
    algorithm: Mapped[str] = mapped_column(String(40), index=True)
    value: Mapped[str] = mapped_column(Text)
    variant: Mapped[str] = mapped_column(String(40), default="original")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    work: Mapped[Work] = relationship(back_populates="fingerprints")


class AllowlistEntry(Base):
    """A licensed domain for one work, or for all of a holder's works."""

    __tablename__ = "allowlist"
    __table_args__ = (
        CheckConstraint(
            "work_id IS NOT NULL OR holder_id IS NOT NULL", name="ck_allowlist_scope"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("rights_holders.id"), index=True)
    work_id: Mapped[int | None] = mapped_column(ForeignKey("works.id"), index=True)
    domain: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Site(Base):
    """A suspect site, identified by its network location (host, and port if not default)."""

    __tablename__ = "sites"
    __table_args__ = (CheckConstraint(_in("status", SITE_STATUSES), name="ck_sites_status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    ips: Mapped[list[Any]] = mapped_column(default=list)
    # Consecutive crawl runs whose start page could not be fetched; enough of them mark the
    # site ``down``, one success marks it ``active`` again.
    unreachable_runs: Mapped[int] = mapped_column(Integer, default=0)

    targets: Mapped[list[WatchTarget]] = relationship(back_populates="site")


class Campaign(Base):
    """A time-boxed special campaign: its own targets, crawled at its own frequency between
    its bounds, its runs tagged with it."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    every_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    focus: Mapped[str | None] = mapped_column(Text)
    goals: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the campaign was ended before its planned end (``campaigns stop``).
    stopped_at: Mapped[datetime | None]

    targets: Mapped[list[WatchTarget]] = relationship(secondary="campaign_targets",
                                                      order_by="WatchTarget.id")


class CampaignTarget(Base):
    __tablename__ = "campaign_targets"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("watch_targets.id"), primary_key=True)


class WatchTarget(Base):
    """What to crawl on a site, how deep, how politely, and how often."""

    __tablename__ = "watch_targets"
    __table_args__ = (CheckConstraint(_in("spider", SPIDERS), name="ck_targets_spider"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    spider: Mapped[str] = mapped_column(String(40), default="site")
    start_urls: Mapped[list[Any]] = mapped_column(default=list)
    depth: Mapped[int] = mapped_column(Integer, default=2)
    max_pages: Mapped[int] = mapped_column(Integer, default=200)
    every_seconds: Mapped[int | None] = mapped_column(Integer)
    cron: Mapped[str | None] = mapped_column(String(100))
    render_js: Mapped[bool] = mapped_column(Boolean, default=False)
    # Hosts besides the start URLs' own whose pages are followed (known mirrors).
    mirror_domains: Mapped[list[Any]] = mapped_column(default=list)
    # Regular expressions a followed page URL must match (any) / must not match (none).
    allow_patterns: Mapped[list[Any]] = mapped_column(default=list)
    deny_patterns: Mapped[list[Any]] = mapped_column(default=list)
    obey_robots: Mapped[bool] = mapped_column(Boolean, default=False)
    delay_s: Mapped[float] = mapped_column(Float, default=0.0)
    concurrency: Mapped[int] = mapped_column(Integer, default=8)
    time_cap_s: Mapped[int] = mapped_column(Integer, default=3600)
    screenshot: Mapped[bool] = mapped_column(Boolean, default=False)
    # The search spider's URL template, with ``{query}`` where the work title goes.
    search_template: Mapped[str | None] = mapped_column(Text)
    # Works the search spider queries for; empty means every registered work.
    work_ids: Mapped[list[Any]] = mapped_column(default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    site: Mapped[Site] = relationship(back_populates="targets")


class CrawlRun(Base):
    __tablename__ = "crawl_runs"
    __table_args__ = (CheckConstraint(_in("outcome", RUN_OUTCOMES), name="ck_runs_outcome"),
                      CheckConstraint(_in("purpose", RUN_PURPOSES), name="ck_runs_purpose"))

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    target_id: Mapped[int | None] = mapped_column(ForeignKey("watch_targets.id"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    spider: Mapped[str] = mapped_column(String(40), default="site")
    start_url: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(20), default="running")
    finish_reason: Mapped[str | None] = mapped_column(String(100))
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    errors: Mapped[list[Any]] = mapped_column(default=list)
    error: Mapped[str | None] = mapped_column(Text)
    # Set when the run ends: False with the reasons when it was blocked, found no pages,
    # hit its time cap or suddenly found no links.
    healthy: Mapped[bool | None] = mapped_column(Boolean)
    health_problems: Mapped[list[Any]] = mapped_column(default=list)
    # Why it ran: a watch target's schedule, a campaign, a recheck, a tip, or by hand.
    purpose: Mapped[str] = mapped_column(String(20), default="manual")
    # Where it ran: the scrapyd node URL and its job id (None for a local subprocess).
    node: Mapped[str | None] = mapped_column(String(300))
    node_job: Mapped[str | None] = mapped_column(String(100))
    # The run this one repeats after its node failed.
    retry_of: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id"))
    # The crawl's process (set by the crawl when it opens the run) and the process that
    # launched it and settles it (an executor in the scheduler or a command): host, pid and
    # the process's start time in seconds since the epoch (a later process given the same pid
    # starts later). While either is alive the run is alive (scheduler/liveness.py).
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None]
    pid_started_at: Mapped[float | None] = mapped_column(Float)
    watcher_host: Mapped[str | None] = mapped_column(String(255))
    watcher_pid: Mapped[int | None]
    watcher_started_at: Mapped[float | None] = mapped_column(Float)

    site: Mapped[Site] = relationship()

    @classmethod
    def unhealthy(cls) -> ColumnElement[bool]:
        """A filter: runs that need a look (marked unhealthy, failed, or interrupted)."""
        return or_(cls.healthy.is_(False), cls.outcome.in_(("failed", "interrupted")))


class WarcFile(Base):
    """A WARC file of evidence: written open during a crawl, then sealed into the evidence
    store under the sha256 of the whole file."""

    __tablename__ = "warc_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(255), unique=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id"), index=True)
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sealed_at: Mapped[datetime | None]


class FeedEntry(Base):
    """A sitemap or feed entry already crawled, with the version (lastmod) seen, so the feed
    spider fetches only new or changed entries."""

    __tablename__ = "feed_entries"
    __table_args__ = (UniqueConstraint("site_id", "url", name="uq_feed_entries_url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(String(100), default="")
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Capture(Base):
    """One fetched response that backs a hit: a page or a media file."""

    __tablename__ = "captures"
    __table_args__ = (CheckConstraint(_in("kind", CAPTURE_KINDS), name="ck_captures_kind"),
                      Index("ix_captures_sha256", "sha256"),  # staydown: copies by content
                      Index("ix_captures_ip", "ip"))  # shared infrastructure: sites on an IP

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    url: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[datetime]
    http_status: Mapped[int]
    ip: Mapped[str | None] = mapped_column(String(45))
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int]
    title: Mapped[str | None] = mapped_column(Text)
    # The WARC file (its stable name, see WarcFile) and the offset of the response record.
    warc_file: Mapped[str | None] = mapped_column(Text)
    warc_offset: Mapped[int | None]
    # Set when the record is a WARC ``revisit`` (the same body as this earlier capture, whose
    # record holds the payload).
    revisit_of: Mapped[int | None] = mapped_column(ForeignKey("captures.id"))


class Case(Base):
    """An enforcement case: the confirmed hits on one site."""

    __tablename__ = "cases"
    __table_args__ = (CheckConstraint(_in("status", CASE_STATUSES), name="ck_cases_status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    status: Mapped[str] = mapped_column(String(30), default="open")
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    # Staydown: confirm reappearing copies of this case automatically (exact: same sha256;
    # fuzzy: same work at a score at least as close); None follows StaydownSettings.
    auto_confirm_exact: Mapped[bool | None] = mapped_column(Boolean)
    auto_confirm_fuzzy: Mapped[bool | None] = mapped_column(Boolean)

    site: Mapped[Site] = relationship()
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.seq"
    )


class CaseMirror(Base):
    """A known mirror site linked to a case: its confirmed hits join that case."""

    __tablename__ = "case_mirrors"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True, unique=True)


class MirrorProposal(Base):
    """A site proposed as a mirror of a case (it serves the case's copies, shares its IP
    address...), until staff accept it (linking the mirror) or decline it."""

    __tablename__ = "mirror_proposals"
    __table_args__ = (
        CheckConstraint(_in("status", MIRROR_PROPOSAL_STATUSES),
                        name="ck_mirror_proposals_status"),
        UniqueConstraint("case_id", "site_id", name="uq_mirror_proposals_site"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    # Why, one entry per kind of evidence: {"kind": "copies"|"shared_ip", "text": ...}.
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship()
    site: Mapped[Site] = relationship()


class StaydownSettings(Base):
    """The instance's staydown defaults (one row, id 1; absent means the defaults below)."""

    __tablename__ = "staydown_settings"
    __table_args__ = (CheckConstraint("id = 1", name="ck_staydown_settings_one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    auto_confirm_exact: Mapped[bool] = mapped_column(Boolean, default=True)
    auto_confirm_fuzzy: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime | None]


class AutoNoticeSettings(Base):
    """The instance's automatic-notice policy (one row, id 1; absent means off) and what its
    last run did: notices queued (ids) and cases skipped (``{case_id, reason}``)."""

    __tablename__ = "auto_notice_settings"
    __table_args__ = (CheckConstraint("id = 1", name="ck_auto_notice_settings_one_row"),
                      CheckConstraint("after_hours >= 0", name="ck_auto_notice_settings_after"))

    id: Mapped[int] = mapped_column(primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    template: Mapped[str] = mapped_column(String(100))
    after_hours: Mapped[int] = mapped_column(Integer, default=0)
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime | None]
    last_run_at: Mapped[datetime | None]
    last_queued: Mapped[list[int] | None] = mapped_column(JSON)
    last_skipped: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


class CaseExport(Base):
    """An evidence bundle exported for a case: its sha256 goes on shutdown lists."""

    __tablename__ = "case_exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    filename: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Hit(Base):
    """A found copy that matched a registered fingerprint, awaiting (or past) review."""

    __tablename__ = "hits"
    __table_args__ = (
        CheckConstraint(_in("status", HIT_STATUSES), name="ck_hits_status"),
        UniqueConstraint("work_id", "url", name="uq_hits_work_url"),
        Index("ix_hits_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    work_id: Mapped[int] = mapped_column(ForeignKey("works.id"), index=True)
    fingerprint_id: Mapped[int | None] = mapped_column(
        ForeignKey("fingerprints.id", ondelete="SET NULL")
    )
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id"))
    media_capture_id: Mapped[int | None] = mapped_column(ForeignKey("captures.id"))
    page_capture_id: Mapped[int | None] = mapped_column(ForeignKey("captures.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    # Staydown: the case this copy is already confirmed in, and how that is known (KNOWN_BY).
    known_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    known_by: Mapped[str | None] = mapped_column(String(10))
    url: Mapped[str] = mapped_column(Text)
    page_url: Mapped[str | None] = mapped_column(Text)
    algorithm: Mapped[str] = mapped_column(String(40))
    variant: Mapped[str] = mapped_column(String(40), default="original")
    stage: Mapped[int] = mapped_column(Integer, default=1)
    # In the algorithm's units: Hamming bits for phash (lower is closer), verified keypoint
    # matches for orb (higher is closer); ``detail`` holds the method's own evidence.
    score: Mapped[float] = mapped_column(Float)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    quarantined: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    reviewer: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The thresholds of its work's signals when it was confirmed ({algorithm: threshold});
    # rechecks judge the copy by these, not by thresholds changed later.
    confirmed_thresholds: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    work: Mapped[Work] = relationship()
    site: Mapped[Site] = relationship()
    media_capture: Mapped[Capture | None] = relationship(foreign_keys=[media_capture_id])
    page_capture: Mapped[Capture | None] = relationship(foreign_keys=[page_capture_id])

    @property
    def captured_at(self) -> datetime | None:
        """When the copy (or, for page hits, the page) was fetched."""
        capture = self.media_capture or self.page_capture
        return capture.fetched_at if capture else None


class CaseEvent(Base):
    """One entry of a case's custody log: append-only and hash-chained."""

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_case_events_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    seq: Mapped[int]
    type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(EventPayload, default=dict)
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    case: Mapped[Case] = relationship(back_populates="events")


class CustodyHead(Base):
    """The signed head of a case's custody log: its last event's seq and hash, signed with
    the instance's key at every append, so deleting the newest events is detected."""

    __tablename__ = "custody_heads"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime]
    key_sha256: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(200))


class CasePublication(Base):
    """A closed or transferred case published on the public pages: its public summary and
    the fields staff chose to show (:data:`casefiles.publication.PUBLIC_FIELDS`)."""

    __tablename__ = "case_publications"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    summary: Mapped[str] = mapped_column(Text)
    fields: Mapped[list[Any]] = mapped_column(default=list)
    published_at: Mapped[datetime]
    published_by: Mapped[str] = mapped_column(String(200))
    # Set while the case is not shown (unpublished by staff, or a holder withdrew consent).
    unpublished_at: Mapped[datetime | None]
    unpublished_by: Mapped[str | None] = mapped_column(String(200))

    case: Mapped[Case] = relationship()


class PublicationConsent(Base):
    """A rights holder's consent to publishing a case: who recorded it, when and how."""

    __tablename__ = "publication_consents"
    __table_args__ = (
        CheckConstraint(_in("method", CONSENT_METHODS), name="ck_publication_consents_method"),
        UniqueConstraint("case_id", "holder_id", name="uq_publication_consents_holder"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("rights_holders.id"))
    given_by: Mapped[str] = mapped_column(String(200))
    given_at: Mapped[datetime]
    method: Mapped[str] = mapped_column(String(20))
    # For consent received offline: the letter, email or call it was given in.
    reference: Mapped[str | None] = mapped_column(Text)
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by: Mapped[str | None] = mapped_column(String(200))

    holder: Mapped[RightsHolder] = relationship()


class Notice(Base):
    __tablename__ = "notices"
    __table_args__ = (
        CheckConstraint(_in("status", NOTICE_STATUSES), name="ck_notices_status"),
        CheckConstraint(_in("delivery", NOTICE_DELIVERIES), name="ck_notices_delivery"),
        UniqueConstraint("message_id", name="uq_notices_message_id"),
        Index("ix_notices_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    template: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(500))
    # The notice as rendered from its template when it was recorded.
    body: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="draft")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivery: Mapped[str] = mapped_column(String(20), default="manual",
                                          server_default="manual")
    # Email delivery: the From address and the Message-ID, both fixed when it is queued.
    sender: Mapped[str | None] = mapped_column(String(500))
    message_id: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    # The sender process holding it (host, pid, start time) and since when.
    claimed_by: Mapped[dict[str, Any] | None]
    claimed_at: Mapped[datetime | None]
    # Set just before the message's DATA goes to the server: a sender that died after this
    # may have delivered it.
    handed_over_at: Mapped[datetime | None]
    server_answer: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship()


class AbuseContact(Base):
    """Where to send a site's notices: an address found over RDAP (for its domain or one of
    its IP addresses), or one staff set; a lookup that found nothing or failed is kept too,
    with what happened, so it is not asked again at once."""

    __tablename__ = "abuse_contacts"
    __table_args__ = (
        CheckConstraint(_in("source", ABUSE_CONTACT_SOURCES), name="ck_abuse_contacts_source"),
        CheckConstraint(_in("outcome", ABUSE_CONTACT_OUTCOMES),
                        name="ck_abuse_contacts_outcome"),
        UniqueConstraint("site_id", "source", "subject", name="uq_abuse_contacts_lookup"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    source: Mapped[str] = mapped_column(String(20))
    # What was looked up: the domain or the IP address (the site's domain for staff's entry).
    subject: Mapped[str] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)
    looked_up_at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(200))


class NoticeUrl(Base):
    """One infringing URL a notice asked to take down, and what rechecks last saw there."""

    __tablename__ = "notice_urls"
    __table_args__ = (
        CheckConstraint(_in("status", NOTICE_URL_STATUSES), name="ck_notice_urls_status"),
        UniqueConstraint("notice_id", "hit_id", name="uq_notice_urls_hit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    hit_id: Mapped[int] = mapped_column(ForeignKey("hits.id"))
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="unchecked")
    last_checked_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]

    notice: Mapped[Notice] = relationship()
    hit: Mapped[Hit] = relationship()


class RecheckResult(Base):
    """One recheck of a URL under notice, with the capture of the response it got."""

    __tablename__ = "recheck_results"
    __table_args__ = (
        CheckConstraint(_in("outcome", RECHECK_OUTCOMES), name="ck_recheck_results_outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_url_id: Mapped[int] = mapped_column(ForeignKey("notice_urls.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id"))
    checked_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(20))
    http_status: Mapped[int | None]
    reason: Mapped[str] = mapped_column(Text)
    capture_id: Mapped[int | None] = mapped_column(ForeignKey("captures.id"))


class Tip(Base):
    """A complaint or public tip naming one URL to check, and what the check found."""

    __tablename__ = "tips"
    __table_args__ = (CheckConstraint(_in("status", TIP_STATUSES), name="ck_tips_status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    reporter: Mapped[str | None] = mapped_column(String(200))
    work_id: Mapped[int | None] = mapped_column(ForeignKey("works.id"))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id"))
    checked_at: Mapped[datetime | None]
    # What the check found: hit ids on the URL, whether the named work was among them.
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ServiceInstance(Base):
    """A run of a once-per-database service (the scheduler, the live service) against this
    database: the one running now, or one that ran (``swordnet.core.service_lock``)."""

    __tablename__ = "service_instances"

    id: Mapped[int] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(String(20), server_default="scheduler")
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    executor: Mapped[str] = mapped_column(String(300))  # how it runs its work
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]


class HitDecision(Base):
    """One review decision on a hit, or the undoing of one: who, what and when."""

    __tablename__ = "hit_decisions"
    __table_args__ = (
        CheckConstraint(_in("decision", HIT_DECISIONS), name="ck_hit_decisions_decision"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hit_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"), index=True)
    decision: Mapped[str] = mapped_column(String(20))
    # The status the hit had before this decision (what an undo goes back from).
    previous_status: Mapped[str] = mapped_column(String(20))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """Someone who signs in to the console or calls the API."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="ck_users_role"),
        CheckConstraint("(role = 'rights_holder') = (holder_id IS NOT NULL)",
                        name="ck_users_holder"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20))
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("rights_holders.id"))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    holder: Mapped[RightsHolder | None] = relationship()


class ApiToken(Base):
    """An API token: only its SHA-256 is stored; it can expire and be revoked."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The token's first characters, to tell tokens apart in listings.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class ConsoleSession(Base):
    """A signed-in console session: the cookie's SHA-256 and the session's CSRF token."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    user: Mapped[User] = relationship()


class LiveEvent(Base):
    """A live event a rights holder registered: its work (hits and cases are the usual ones),
    its official feed, its event campaign, and the feed's health while it runs."""

    __tablename__ = "live_events"
    __table_args__ = (
        CheckConstraint(_in("feed_state", LIVE_FEED_STATES), name="ck_live_events_feed_state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    work_id: Mapped[int] = mapped_column(ForeignKey("works.id"), unique=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # The official feed's HLS or DASH URL; None: captures of it are pushed in.
    feed_url: Mapped[str | None] = mapped_column(Text)
    # How much of the feed the rolling reference keeps, and how often a candidate is sampled.
    window_s: Mapped[int] = mapped_column(Integer, default=600)
    check_every_s: Mapped[int] = mapped_column(Integer, default=30)
    # Staff's auto-confirm rule: a match scoring at least this is confirmed and listed at
    # once; None: every match waits for a reviewer.
    auto_confirm_score: Mapped[float | None] = mapped_column(Float)
    auto_confirm_set_by: Mapped[str | None] = mapped_column(String(200))
    feed_state: Mapped[str] = mapped_column(String(10), default="waiting")
    feed_checked_at: Mapped[datetime | None]
    feed_last_segment_at: Mapped[datetime | None]
    feed_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    work: Mapped[Work] = relationship()


class LiveFeedGap(Base):
    """A time the official feed was down during its event (``ended_at`` None: still down)."""

    __tablename__ = "live_feed_gaps"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("live_events.id"), index=True)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(Text)


class LiveStream(Base):
    """A candidate restream of an event: where it was found, and what sampling it found."""

    __tablename__ = "live_streams"
    __table_args__ = (
        CheckConstraint(_in("state", LIVE_STREAM_STATES), name="ck_live_streams_state"),
        CheckConstraint(_in("found_by", LIVE_FOUND_BY), name="ck_live_streams_found_by"),
        UniqueConstraint("event_id", "url", name="uq_live_streams_event_url"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("live_events.id"), index=True)
    # The playlist (.m3u8 / .mpd) URL, and the page that embeds or links it.
    url: Mapped[str] = mapped_column(Text)
    page_url: Mapped[str | None] = mapped_column(Text)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    found_by: Mapped[str] = mapped_column(String(10))
    found_at: Mapped[datetime] = mapped_column(default=utcnow)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id"))
    page_capture_id: Mapped[int | None] = mapped_column(ForeignKey("captures.id"))
    state: Mapped[str] = mapped_column(String(10), default="checking")
    next_check_at: Mapped[datetime | None]
    last_checked_at: Mapped[datetime | None]
    checks: Mapped[int] = mapped_column(Integer, default=0)
    last_outcome: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)
    # The match: its hit, when it was first made, the restream's delay behind the feed.
    hit_id: Mapped[int | None] = mapped_column(ForeignKey("hits.id"))
    matched_at: Mapped[datetime | None]
    delay_s: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    listed_at: Mapped[datetime | None]

    event: Mapped[LiveEvent] = relationship()
    site: Mapped[Site] = relationship()
    hit: Mapped[Hit | None] = relationship()


class LiveCheck(Base):
    """One sample of a candidate stream: what it found, and the captures that show it."""

    __tablename__ = "live_checks"
    __table_args__ = (
        CheckConstraint(_in("outcome", LIVE_CHECK_OUTCOMES), name="ck_live_checks_outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stream_id: Mapped[int] = mapped_column(ForeignKey("live_streams.id"), index=True)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(String(20))
    delay_s: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    playlist_capture_id: Mapped[int | None] = mapped_column(ForeignKey("captures.id"))
    segment_capture_id: Mapped[int | None] = mapped_column(ForeignKey("captures.id"))
    # CPU seconds the sample cost this process (fetch, decode, fingerprint, match).
    cpu_s: Mapped[float | None] = mapped_column(Float)


class BlockEntry(Base):
    """One address of the blocking list: a confirmed restream's FQDN or IP, first and last
    seen, listed (or held back as shared infrastructure), and perhaps withdrawn."""

    __tablename__ = "block_entries"
    __table_args__ = (
        CheckConstraint(_in("kind", BLOCK_KINDS), name="ck_block_entries_kind"),
        UniqueConstraint("event_id", "kind", "value", name="uq_block_entries_event_value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("live_events.id"), index=True)
    stream_id: Mapped[int | None] = mapped_column(ForeignKey("live_streams.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(5))
    value: Mapped[str] = mapped_column(String(255))
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # None while held back: an IP of shared infrastructure is not listed unless overridden.
    listed_at: Mapped[datetime | None]
    listed_by: Mapped[str | None] = mapped_column(String(200))
    shared_infrastructure: Mapped[bool] = mapped_column(Boolean, default=False)
    shared_reason: Mapped[str | None] = mapped_column(Text)
    override_reason: Mapped[str | None] = mapped_column(Text)
    override_by: Mapped[str | None] = mapped_column(String(200))
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by: Mapped[str | None] = mapped_column(String(200))
    withdraw_reason: Mapped[str | None] = mapped_column(Text)
    # When the entry last changed (listed, overridden, withdrawn, seen): the export's ETag.
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class InfrastructureRange(Base):
    """A network of a CDN or cloud provider: an address in it is shared infrastructure."""

    __tablename__ = "infrastructure_ranges"
    __table_args__ = (UniqueConstraint("provider", "network", name="uq_infrastructure_ranges"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(100))
    network: Mapped[str] = mapped_column(String(49))
    # The date the provider's list was published (as the list file says), and when loaded.
    as_of: Mapped[date]
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Where the provider publishes the list (the URL the file names).
    source: Mapped[str] = mapped_column(Text, default="")


class BlocklistClient(Base):
    """A blocking platform's client: a named read-only token that reads the blocking list and
    nothing else (only its SHA-256 is stored); staff create and revoke it."""

    __tablename__ = "blocklist_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The token's first characters, to tell tokens apart in listings.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    last_used_at: Mapped[datetime | None]
