"""A campaign organiser's rapid response, end to end in a real browser (Debian's Chromium
through Playwright) against the app served by uvicorn on 127.0.0.1.

The organiser signs in, puts a pirate site (a local fixture site with its own search box,
``tests/pirate_sites.py``) on the watchlist from the console (a bad depth first: the error
shows next to the field, the rest of the form kept), starts a rapid response for a
registered work, and watches the campaign page: the scheduler's job for the campaign's due
checks runs (in a thread, as the scheduler runs it), the search finds the planted copy, and
the hit appears on the page without a reload. The organiser reviews it (it joins a case),
records an email notice for the case and sends it to a real local SMTP server. The site takes
the copy down; the organiser closes the case, records its holder's consent and publishes it,
and a signed-out browser without JavaScript reads its public page. With
``SWORDNET_SCREENSHOTS=1`` the run saves ``docs/screenshots/target-form-error.png``,
``rapid-response-form.png``, ``campaign-live-hits.png``, ``rapid-response-notice.png`` and
``rapid-response-published.png``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright
from sqlalchemy import select

from scheduler import jobs
from scheduler.executor import LocalExecutor
from scheduler.service import wanted_jobs
from swordnet.accounts.users import add_user
from swordnet.core.config import Settings, load_smtp
from swordnet.core.db import Database, open_database
from swordnet.core.models import Campaign, Case, Hit, Notice, Work
from swordnet.core.timeutil import utcnow
from swordnet.demo.site import serve_site
from swordnet.web.app import create_app
from tests.conftest import TEST_NETWORKS
from tests.pirate_sites import register_samples, search_site
from tests.served_app import serving
from tests.smtp_server import SmtpServer, smtp_server
from tests.test_console_browser import (
    CHROMIUM,
    VIEWPORT,
    Served,
    Watched,
    require_chromium,
    save_screenshot,
)
from tests.web_data import PASSWORD

pytestmark = pytest.mark.slow
HANG_GUARD_MS = 600_000  # only ends a hang: a crawl subprocess on a loaded machine is slow
ORGANISER = "organiser"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    require_chromium()
    with smtp_server(tmp_path / "smtp", "--auth") as server:
        yield server


@pytest.fixture
def home(tmp_path: Path, smtp: SmtpServer) -> Settings:
    """A home with the sample works registered and a staff user, notices emailed to the real
    SMTP server on loopback, loopback sites allowed (as tests opt in)."""
    settings = Settings(home=tmp_path / "home",
                        database_url=f"sqlite:///{tmp_path / 'swordnet.db'}",
                        allow_networks=TEST_NETWORKS, smtp=load_smtp(smtp.environment()),
                        public_pages=True)
    db = open_database(settings)
    register_samples(db)
    with db.session() as session:
        add_user(session, ORGANISER, PASSWORD, "staff")
    db.dispose()
    return settings


@contextmanager
def serve_app(settings: Settings) -> Iterator[Served]:
    """The app on ``settings``, served by uvicorn on a free loopback port."""
    app = create_app(settings)
    try:
        with serving(app) as url:
            yield Served(url, app.state.db)
    finally:
        app.state.db.dispose()


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def run_due_campaign_checks(db: Database, settings: Settings, campaign_id: int,
                            failures: list[BaseException]) -> None:
    """What the scheduler does for a campaign it sees for the first time: every job the
    database asks for that runs at once, the campaign's crawls of its targets."""
    jobs.install(jobs.JobContext(db, LocalExecutor(db, settings), max_concurrent=2))
    try:
        for spec in wanted_jobs(db, 3600, 3600, utcnow()):
            if spec.job_id.startswith(f"campaign:{campaign_id}:") and spec.run_at_once:
                spec.func(*spec.args)
    except BaseException as exc:  # reported by the test, not lost in the thread
        failures.append(exc)
    finally:
        jobs.install(None)


def test_organiser_rapid_response_from_site_to_published_case(home: Settings,
                                                            smtp: SmtpServer) -> None:
    site = search_site()
    title = site.planted[0].work_title
    with serve_site(site) as pirate, serve_app(home) as served, \
            chromium() as browser:
        context = browser.new_context(viewport=VIEWPORT, base_url=served.url)
        tab = Watched(context.new_page())
        tab.page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error"
                    else None)
        tab.page.on("pageerror", lambda e: tab.errors.append(str(e)))
        page = tab.page
        base = pirate.url.rstrip("/")
        with served.db.session() as session:
            work_id = session.scalars(select(Work.id).where(Work.title == title)).one()

        # Sign in and put the pirate site on the watchlist, with its search template.
        page.goto("/sites")
        page.fill("input[name=username]", ORGANISER)
        page.fill("input[name=password]", PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url("**/sites")
        page.click("text=Add a watch target")
        page.fill("input[name=url]", base + "/")
        page.fill("input[name=depth]", "99")
        page.fill("input[name=search_template]", base + "/search?q={query}")
        page.fill("input[name=every]", "1d")
        page.click("button:has-text('Add to the watchlist')")
        error = page.locator("input[name=depth] ~ .field-error")
        expect(error).to_contain_text("less than or equal to 50")
        expect(page.locator("input[name=url]")).to_have_value(base + "/")
        expect(page.locator("input[name=search_template]")).to_have_value(
            base + "/search?q={query}")
        save_screenshot(page, "target-form-error.png")
        # The refused form is a 422 page, which Chromium logs; nothing else may be.
        assert [e for e in tab.errors if "422" not in e] == []
        tab.errors.clear()
        page.fill("input[name=depth]", "1")
        page.click("button:has-text('Add to the watchlist')")
        page.wait_for_url("**/sites?added=*")
        expect(page.locator(".flash.ok")).to_contain_text("is on the watchlist")

        # Start a rapid response for the work on that site.
        page.goto("/campaigns")
        domain = base.split("//", 1)[1]
        page.locator("#rapid label", has_text=domain).locator("input").check()
        page.select_option("#rapid select[name=works]", str(work_id))
        page.fill("#rapid input[name=hours]", "6")
        save_screenshot(page, "rapid-response-form.png")
        page.click("button:has-text('Start rapid response')")
        page.wait_for_url("**/campaigns/*")
        campaign_id = int(page.url.rsplit("/", 1)[1])
        expect(page.locator("#campaign-state")).to_have_text("running")
        expect(page.locator("#live-status")).to_contain_text("No hits yet")
        page.evaluate("window.sameDocument = true")  # gone if the page were reloaded
        with served.db.session() as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None and campaign.every_seconds == 300

        # The scheduler runs the campaign's due checks; the hit appears as it is found.
        failures: list[BaseException] = []
        checks = threading.Thread(target=run_due_campaign_checks,
                                  args=(served.db, home, campaign_id, failures))
        checks.start()
        first = page.locator("#live-hits tr.live-hit").first
        expect(first).to_be_visible(timeout=HANG_GUARD_MS)
        expect(first).to_contain_text(title)
        assert page.evaluate("window.sameDocument") is True
        checks.join()
        assert failures == []
        save_screenshot(page, "campaign-live-hits.png")
        hit_id = int(first.get_attribute("data-id") or 0)

        # Review it: confirmed, it opens a case.
        first.locator("a.review-hit").click()
        page.wait_for_url(f"**/review?*hit={hit_id}*")
        current = page.locator("article.hit.current")
        expect(current).to_have_attribute("data-id", str(hit_id))
        page.keyboard.press("y")
        expect(page.locator("#status-line")).to_contain_text(f"Hit {hit_id} confirmed")
        with served.db.session() as session:
            hit = session.get(Hit, hit_id)
            assert hit is not None and hit.status == "confirmed" and hit.case_id is not None
            case_id = hit.case_id

        # Record an email notice for the case and send it.
        page.goto(f"/cases/{case_id}")
        page.fill("#notice-form input[name=recipient]", "abuse@pirate.example")
        page.click("#notice-form button")
        page.wait_for_url(f"**/cases/{case_id}#notices")
        page.click("tr.notice button:has-text('Send now')")
        expect(page.locator("tr.notice")).to_contain_text("sent")
        save_screenshot(page, "rapid-response-notice.png")
        [(envelope, message)] = smtp.messages()
        assert envelope["to"] == ["abuse@pirate.example"]
        with served.db.session() as session:
            notice = session.scalars(select(Notice).where(Notice.case_id == case_id)).one()
            assert notice.status == "sent"
            case = session.get(Case, case_id)
            assert case is not None and case.status == "notice_sent"
        with served.db.session() as session:
            served_hit = session.get(Hit, hit_id)
            assert served_hit is not None
            assert served_hit.url in message.get_payload(decode=True).decode()

        # The site took the copy down: the case is closed, its holder consents (received by
        # letter), and the organiser publishes it as a typical case.
        for status in ("removed", "closed"):
            page.select_option("form.transition select[name=to]", status)
            page.fill("form.transition input[name=reason]", f"{status}: checked by hand")
            with page.expect_navigation():
                page.click("form.transition button")
        page.fill("#offline-consent input[name=reference]", "letter of 1 December")
        with page.expect_navigation():
            page.click("#offline-consent button")
        page.fill("#publish-form textarea[name=summary]", "Copies removed after one notice.")
        for field in ("site", "works", "outcome"):
            page.locator(f"#publish-form input[value={field}]").check()
        page.click("#publish-form button[type=submit]")
        expect(page.locator("#publication-state")).to_contain_text("published")
        assert tab.errors == []
        context.close()

        # Anyone, signed out and without JavaScript, reads the published case.
        visitor = browser.new_context(viewport=VIEWPORT, base_url=served.url,
                                      java_script_enabled=False)
        public = visitor.new_page()
        response = public.goto(f"/public/cases/{case_id}")
        assert response is not None and response.status == 200
        assert visitor.cookies() == []
        expect(public.locator("h1")).to_contain_text(base.split("//", 1)[1].split(":")[0])
        expect(public.locator("p.summary")).to_have_text("Copies removed after one notice.")
        expect(public.locator(".field-works")).to_contain_text(title)
        save_screenshot(public, "rapid-response-published.png")
        visitor.close()

