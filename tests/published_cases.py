"""Cases for the publication tests: built straight through the casefiles functions, no crawl.

- ``done``: closed after a notice and a removal, on a campaign's site, every holder (one)
  consented offline; the test publishes it.
- ``secret``: closed, its holder consented, never published: none of its text may reach a
  public page.
- ``shared``: closed, two holders' works in it, only one consented: publishing is refused.
- ``open``: still open.

Every string that must never be public is distinctive, so a crawl can look for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from casefiles.lifecycle import transition
from casefiles.notices import record_notice, record_recheck
from casefiles.publication import give_consent
from casefiles.review import confirm_hit
from swordnet.accounts.users import add_user, create_token
from swordnet.core.db import Database
from swordnet.core.models import Capture, Case, CrawlRun, Hit, NoticeUrl, RightsHolder, Work
from swordnet.core.timeutil import utcnow
from swordnet.watch.campaigns import create_campaign
from swordnet.watch.targets import add_target, site_for_url

PASSWORD = "published cases need consent first"
HOLDER_A = "Aurora Films"
HOLDER_B = "Beacon Books"
REVIEWER = "reviewer-zq7x"
STAFF = "staffer"
CAMPAIGN = "Spring Sweep 2026"
USERS = {STAFF: ("staff", None), REVIEWER: ("staff", None),
         "aurora": ("rights_holder", HOLDER_A), "beacon": ("rights_holder", HOLDER_B)}


@dataclass(frozen=True)
class Cases:
    done: int
    secret: int
    shared: int
    open: int
    campaign_id: int
    tokens: dict[str, str]
    # Strings no public page may contain: unpublished titles and hosts, reviewer names,
    # evidence hashes and file names, tokens.
    never_public: tuple[str, ...]


def _work(session: Session, holder: str, title: str) -> Work:
    owner = session.query(RightsHolder).filter_by(name=holder).one_or_none() \
        or RightsHolder(name=holder)
    work = Work(holder=owner, title=title, kind="image")
    session.add(work)
    session.flush()
    return work


def _confirmed_case(session: Session, host: str, works: list[Work], tag: str) -> Case:
    """A case on ``host`` holding one confirmed hit per work, each backed by a capture."""
    site = site_for_url(session, f"http://{host}/")
    run = CrawlRun(site_id=site.id, start_url=f"http://{host}/", outcome="finished")
    session.add(run)
    session.flush()
    case = None
    for n, work in enumerate(works):
        capture = Capture(run_id=run.id, kind="media", url=f"http://{host}/{tag}/{n}.jpg",
                          fetched_at=utcnow(), http_status=200, sha256=f"{tag}{n}".ljust(64, "e"),
                          size=10, warc_file=f"warc-{tag}-{n}.warc.gz", warc_offset=0)
        session.add(capture)
        session.flush()
        hit = Hit(work_id=work.id, site_id=site.id, run_id=run.id, url=capture.url,
                  algorithm="phash", score=2.0, media_capture_id=capture.id)
        session.add(hit)
        session.flush()
        case = confirm_hit(session, hit.id, REVIEWER)
    assert case is not None
    return case


def build_cases(db: Database) -> Cases:
    """Users, tokens, a campaign and the four cases, in ``db``."""
    with db.session() as session:
        tokens = {}
        for name in (HOLDER_A, HOLDER_B):
            session.add(RightsHolder(name=name))
        session.flush()
        for username, (role, holder) in USERS.items():
            add_user(session, username, PASSWORD, role, holder)
            tokens[username] = create_token(session, username, "tests").secret
        target = add_target(session, "http://published-host.example/", depth=1, max_pages=5,
                            every_seconds=None)
        campaign = create_campaign(session, CAMPAIGN, utcnow() - timedelta(days=1),
                                   utcnow() + timedelta(days=30), [target.id], 3600)

        done = _confirmed_case(session, "published-host.example",
                               [_work(session, HOLDER_A, "Published Work Title")], "d")
        notice = record_notice(session, done.id, "abuse@published-host.example", "dmca-en",
                               STAFF)
        notice_url = session.query(NoticeUrl).filter_by(notice_id=notice.id).one()
        record_recheck(session, notice_url.id, None, "removed", 404, "gone", None)
        if done.status != "removed":
            transition(session, done, "removed", STAFF, "the copy is gone")
        transition(session, done, "closed", STAFF, "all copies removed")
        give_consent(session, done, HOLDER_A, STAFF, "offline", "letter of 2026-11-30")

        secret = _confirmed_case(session, "secret-host.example",
                                 [_work(session, HOLDER_A, "Unpublished Secret Title")], "s")
        transition(session, secret, "closed", STAFF, "settled privately")
        give_consent(session, secret, HOLDER_A, STAFF, "offline", "secret consent ref")

        shared = _confirmed_case(session, "shared-host.example",
                                 [_work(session, HOLDER_A, "Shared Aurora Title"),
                                  _work(session, HOLDER_B, "Beacon Hidden Title")], "h")
        transition(session, shared, "closed", STAFF, "done")
        give_consent(session, shared, HOLDER_A, STAFF, "offline", "shared consent ref")

        still_open = _confirmed_case(session, "open-host.example",
                                     [_work(session, HOLDER_B, "Open Case Title")], "o")
        hashes = tuple(session.scalars(Capture.__table__.select().with_only_columns(
            Capture.sha256)))
        files = tuple(session.scalars(Capture.__table__.select().with_only_columns(
            Capture.warc_file)))
        never = ("Unpublished Secret Title", "secret-host.example", "shared-host.example",
                 "Beacon Hidden Title", "Shared Aurora Title", "open-host.example",
                 "Open Case Title", "settled privately", "secret consent ref",
                 "letter of 2026-11-30", REVIEWER, STAFF, "abuse@published-host.example",
                 "http://published-host.example/d/0.jpg", *hashes, *files,
                 *tokens.values())
        return Cases(done.id, secret.id, shared.id, still_open.id, campaign.id, tokens, never)
