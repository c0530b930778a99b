"""The console in a real browser: Debian's Chromium (headless, through Playwright) against the
app served by uvicorn on 127.0.0.1.

A reviewer decides hits from the keyboard alone and the case page then lists exactly the
confirmed ones (checked against the database too); a page titled
``<script>alert(1)</script>`` shows that title as text and opens no dialog; no page logs a
console error (a CSP violation by our own assets would be one). With
``SWORDNET_SCREENSHOTS=1`` the run saves ``docs/screenshots/review-queue.png`` and
``docs/screenshots/dashboard.png``.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright
from sqlalchemy import select

from swordnet.core.db import Database
from swordnet.core.models import Case, CaseEvent, CaseExport, Hit
from swordnet.web.app import create_app
from tests.served_app import serving
from tests.web_data import PASSWORD, XSS_PAGE, XSS_TITLE, WebData, shared_web_data

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}


def require_chromium() -> None:
    if not shutil.which(CHROMIUM):
        if os.environ.get("SWORDNET_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is not installed (make browser installs it)")
        pytest.skip(f"{CHROMIUM} is not installed (make browser installs it)")


@pytest.fixture(scope="module")
def web_data(tmp_path_factory: pytest.TempPathFactory) -> WebData:
    require_chromium()
    return shared_web_data(tmp_path_factory)


@dataclass
class Served:
    url: str
    db: Database


@pytest.fixture
def served(web_data: WebData, tmp_path: Path) -> Iterator[Served]:
    """The app on a copy of the data, served by uvicorn on a free loopback port."""
    app = create_app(web_data.copy_to(tmp_path))
    try:
        with serving(app) as url:
            yield Served(url, app.state.db)
    finally:
        app.state.db.dispose()


@pytest.fixture(scope="module")
def browser(web_data: WebData) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox"])
        yield chromium
        chromium.close()


@dataclass
class Watched:
    """A page, and every dialog and console error it produced."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def tab(browser: Browser, served: Served) -> Iterator[Watched]:
    context = browser.new_context(viewport=VIEWPORT, base_url=served.url)
    page = context.new_page()
    watched = Watched(page)

    def on_dialog(dialog: Dialog) -> None:
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda message: message.type == "error"
            and watched.errors.append(message.text))
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    yield watched
    context.close()


def sign_in(page: Page, path: str, username: str) -> None:
    """Open ``path``, get sent to the sign-in form, sign in, land on ``path``."""
    page.goto(path)
    assert "/login?next=" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{path}")


def current_id(page: Page) -> int:
    return int(page.locator("article.hit.current").get_attribute("data-id"))


def images_loaded(page: Page, selector: str) -> list[int]:
    """naturalWidth of each image under ``selector`` (0: not loaded)."""
    return page.eval_on_selector_all(
        f"{selector} img", "images => images.map(i => i.complete ? i.naturalWidth : 0)")


def save_screenshot(page: Page, name: str) -> None:
    if os.environ.get("SWORDNET_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / name))


def test_keyboard_review_then_the_case_shows_exactly_the_confirmed_hits(
        tab: Watched, served: Served) -> None:
    page = tab.page
    sign_in(page, "/review", "reviewer")
    status = page.locator("#status-line")
    expect(page.locator("article.hit.current")).to_have_count(1)
    page.wait_for_function(
        "() => [...document.querySelectorAll('article.hit.current img')]"
        ".every(i => i.complete && i.naturalWidth > 0)")
    assert len(images_loaded(page, "article.hit.current")) == 2  # work and copy, side by side

    confirmed = []
    for _ in range(3):
        hit_id = current_id(page)
        page.keyboard.press("y")
        expect(status).to_contain_text(f"Hit {hit_id} confirmed — u to undo")
        confirmed.append(hit_id)
        assert current_id(page) != hit_id  # moved on to the next pending hit
    page.keyboard.press("u")
    undone = confirmed.pop()
    expect(status).to_contain_text(f"Hit {undone} is pending again")
    assert current_id(page) == undone
    page.keyboard.press("n")
    expect(status).to_contain_text(f"Hit {undone} rejected — u to undo")
    rejected = undone
    expect(page.locator(f"#hit-{rejected} [data-role=status]")).to_have_text("rejected")
    page.wait_for_function(
        "() => [...document.querySelectorAll('article.hit.current img')]"
        ".every(i => i.complete && i.naturalWidth > 0)")
    expect(page.locator("article.hit.current [data-fill=page-excerpt]")).not_to_have_text(
        "Loading…")
    save_screenshot(page, "review-queue.png")

    with served.db.session() as session:
        hits = {hit.id: hit for hit in session.scalars(select(Hit))}
        assert {i for i, h in hits.items() if h.status == "confirmed"} == set(confirmed)
        assert hits[rejected].status == "rejected" and hits[rejected].case_id is None
        case = session.scalars(select(Case)).one()
        in_case = set(session.scalars(select(Hit.id).where(Hit.case_id == case.id)))
        events = [e.type for e in session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))]
    assert in_case == set(confirmed)
    assert events == ["case_opened", "hit_confirmed", "hit_confirmed", "hit_confirmed",
                      "hit_unconfirmed"]

    page.goto("/cases")
    page.click(f"a[href='/cases/{case.id}']")
    page.wait_for_url(f"**/cases/{case.id}")
    shown = page.eval_on_selector_all(
        "tr.case-hit", "rows => rows.map(r => Number(r.dataset.hit))")
    assert sorted(shown) == sorted(confirmed)
    expect(page.locator(".timeline")).to_contain_text("hit unconfirmed")
    expect(page.locator("body")).to_contain_text("chain intact")
    with page.expect_download() as download:  # POSTed by case.js with the CSRF header
        page.click("#bundle-form button")
    assert download.value.suggested_filename == f"case-{case.id}-evidence.zip"
    with zipfile.ZipFile(download.value.path()) as bundle:
        assert "manifest.json" in bundle.namelist()
    expect(page.locator("#bundle-status")).to_contain_text("Saved")
    with served.db.session() as session:
        assert session.scalar(select(CaseExport.case_id)) == case.id

    page.goto("/")
    expect(page.locator("[data-count=cases]")).to_have_text("1")
    expect(page.locator("[data-count=pending]")).to_have_text(str(25 - 3))
    save_screenshot(page, "dashboard.png")
    assert tab.dialogs == []
    assert tab.errors == []


def test_crawled_script_title_is_shown_as_text(tab: Watched, served: Served) -> None:
    with served.db.session() as session:
        xss_hit = session.scalars(select(Hit.id).where(Hit.page_url.like(f"%{XSS_PAGE}"))).one()
    page = tab.page
    sign_in(page, f"/review?hit={xss_hit}", "reviewer")
    current = page.locator("article.hit.current")
    expect(current).to_have_attribute("data-id", str(xss_hit))
    expect(current.locator(".page-title")).to_have_text(XSS_TITLE)
    expect(current).to_contain_text(XSS_TITLE)
    expect(current.locator("[data-fill=page-excerpt]")).to_contain_text("New upload")
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    page.keyboard.press("y")  # ignored while help is open
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()
    page.keyboard.press("g")
    expect(page.locator("#queue")).to_have_class("queue grid")
    expect(page.locator("article.hit:visible")).to_have_count(25)
    page.keyboard.press("Enter")
    expect(page.locator("#queue")).to_have_class("queue single")
    expect(page.locator("article.hit:visible")).to_have_count(1)
    page.wait_for_timeout(300)  # room for a script to run
    with served.db.session() as session:
        assert session.get(Hit, xss_hit).status == "pending"
    assert page.evaluate("document.title").startswith("Review queue")
    assert tab.dialogs == []
    assert tab.errors == []


def test_bulk_confirm_of_selected_hits(tab: Watched, served: Served) -> None:
    page = tab.page
    sign_in(page, "/review", "reviewer")
    picked = []
    for _ in range(2):
        picked.append(current_id(page))
        page.keyboard.press("x")
        page.keyboard.press("j")
    expect(page.locator("#status-line")).to_contain_text("2 hits selected")
    page.click("[data-action=bulk-confirm]")
    expect(page.locator("#status-line")).to_contain_text("2 hits confirmed")
    for hit_id in picked:
        expect(page.locator(f"#hit-{hit_id} [data-role=status]")).to_have_text("confirmed")
    with served.db.session() as session:
        assert set(session.scalars(select(Hit.id).where(Hit.status == "confirmed"))) == \
            set(picked)
    assert tab.errors == []


def test_rights_holder_sees_the_queue_read_only(tab: Watched, served: Served) -> None:
    page = tab.page
    sign_in(page, "/review", "north")
    page.keyboard.press("y")
    expect(page.locator("#status-line")).to_contain_text("Read-only")
    expect(page.locator("[data-action=confirm]")).to_have_count(0)
    with served.db.session() as session:
        assert session.scalar(select(Hit.id).where(Hit.status != "pending")) is None
    page.goto("/sites")
    expect(page.locator("h1")).to_have_text("Not for this account")
    assert tab.errors == ["Failed to load resource: the server responded with a status of 403 "
                          "(Forbidden)"]
