"""A live event's view in a real browser (Debian's Chromium through Playwright) against the
app served by uvicorn on 127.0.0.1: a restream found while the page is open appears in the
stream table without a reload, staff walk the streams with j/k, and y confirms and lists the
selected matched stream (its FQDN then on the blocking list).

With ``SWORDNET_SCREENSHOTS=1`` the run saves
``docs/screenshots/live-event.png``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from sqlalchemy import select

from swordnet.core.config import Settings
from swordnet.core.models import BlockEntry
from swordnet.core.timeutil import utcnow
from swordnet.web.app import create_app
from tests.live_event_rows import PASSWORD, LiveRows, add_matched_stream, seed_live_rows
from tests.served_app import serving
from tests.test_console_browser import (
    CHROMIUM,
    VIEWPORT,
    Served,
    Watched,
    require_chromium,
    save_screenshot,
)

pytestmark = pytest.mark.slow
HANG_GUARD_MS = 60_000  # only ends a hang: the page polls every few seconds
RESTREAM = "https://live.pirate.test/hls/final.m3u8"


@dataclass
class Opened:
    tab: Watched
    served: Served
    rows: LiveRows


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LiveRows]:
    require_chromium()
    directory = tmp_path_factory.mktemp("live-rows")
    return directory, seed_live_rows(settings_in(directory))


def settings_in(directory: Path) -> Settings:
    return Settings(home=directory / "home",
                    database_url=f"sqlite:///{directory / 'swordnet.db'}")


@pytest.fixture
def opened(seeded: tuple[Path, LiveRows], tmp_path: Path) -> Iterator[Opened]:
    """Staff signed in on the Cup Final's view, the app on a copy of the rows."""
    shutil.copyfile(seeded[0] / "swordnet.db", tmp_path / "swordnet.db")
    rows = seeded[1]
    app = create_app(settings_in(tmp_path))
    try:
        with serving(app) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--no-sandbox"])
            context = browser.new_context(viewport=VIEWPORT, base_url=url)
            tab = Watched(context.new_page())
            tab.page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error"
                        else None)
            tab.page.on("pageerror", lambda e: tab.errors.append(str(e)))
            page = tab.page
            page.goto(f"/live/{rows.final}")
            page.fill("input[name=username]", "reviewer")
            page.fill("input[name=password]", PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url(f"**/live/{rows.final}")
            yield Opened(tab, Served(url, app.state.db), rows)
            browser.close()
    finally:
        app.state.db.dispose()


def current(page: Page) -> str | None:
    return page.locator("#stream-rows tr.stream.current").get_attribute("data-id")


def a_restream_appears_and_is_selected(opened: Opened) -> int:
    """A matched restream is written while the page is open; it appears without a reload and
    j/k select it. Its id."""
    page, rows = opened.tab.page, opened.rows
    expect(page.locator("#stream-rows tr.stream")).to_have_count(4)
    page.evaluate("window.sameDocument = true")  # gone if the page were reloaded
    new = add_matched_stream(opened.served.db, rows.final, RESTREAM,
                             "https://live.pirate.test/watch", utcnow())
    row = page.locator(f'#stream-rows tr.stream[data-id="{new}"]')
    expect(row).to_be_visible(timeout=HANG_GUARD_MS)
    expect(row).to_contain_text("live.pirate.test")
    expect(row.locator(".badge")).to_have_text("matched")
    expect(row).to_contain_text("21 s")
    assert page.evaluate("window.sameDocument") is True

    status = page.locator("#status-line")
    for _ in range(5):
        page.keyboard.press("j")
    assert current(page) == str(new)
    page.keyboard.press("k")
    assert current(page) == str(rows.checking)
    page.keyboard.press("y")  # not matched: nothing happens but a warning
    expect(status).to_contain_text("only a matched stream can be listed")
    page.keyboard.press("j")
    assert current(page) == str(new)
    expect(status).to_contain_text("y to confirm and list")
    return new


def test_a_new_restream_appears_without_reload_and_is_selected_from_the_keyboard(
        opened: Opened) -> None:
    page = opened.tab.page
    expect(page.locator("#feed-state")).to_have_text("live")
    new = a_restream_appears_and_is_selected(opened)
    # Another restream found: the table is rebuilt, and the selection stays where it was.
    other = add_matched_stream(opened.served.db, opened.rows.final,
                               "https://other.pirate.test/live.m3u8", "https://other.pirate.test/",
                               utcnow())
    expect(page.locator(f'#stream-rows tr.stream[data-id="{other}"]')).to_be_visible(
        timeout=HANG_GUARD_MS)
    assert current(page) == str(new)
    assert opened.tab.errors == []


def test_one_key_confirms_and_lists_the_selected_restream(opened: Opened) -> None:
    page = opened.tab.page
    new = a_restream_appears_and_is_selected(opened)
    page.keyboard.press("y")
    status = page.locator("#status-line")
    expect(status).to_contain_text(f"Stream {new} listed: fqdn live.pirate.test",
                                   timeout=HANG_GUARD_MS)
    row = page.locator(f'#stream-rows tr.stream[data-id="{new}"]')
    expect(row.locator(".badge")).to_have_text("listed")
    expect(page.locator("#timeline-entries")).to_contain_text(
        "Listed fqdn live.pirate.test by reviewer")
    assert current(page) == str(new)
    save_screenshot(page, "live-event.png")
    with opened.served.db.session() as session:
        entry = session.scalars(select(BlockEntry).where(BlockEntry.stream_id == new)).one()
        assert (entry.kind, entry.value, entry.listed_by) == ("fqdn", "live.pirate.test",
                                                              "reviewer")
    assert opened.tab.errors == []
