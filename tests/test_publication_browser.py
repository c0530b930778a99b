"""Publishing a case in a real browser (Debian's Chromium through Playwright), then opening its
public page signed out. With ``SWORDNET_SCREENSHOTS=1`` the run saves
``docs/screenshots/public-case.png``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.core.models import CasePublication
from swordnet.web.app import create_app
from tests.published_cases import PASSWORD, STAFF, Cases, build_cases
from tests.served_app import serving
from tests.test_console_browser import CHROMIUM, VIEWPORT, require_chromium, save_screenshot

SUMMARY = "The site took the copies down within a week of our notice <b>and</b> closed."


@pytest.fixture
def served(sqlite_home: Settings) -> Iterator[tuple[str, Cases, Path]]:
    require_chromium()
    settings = replace(sqlite_home, public_pages=True)
    db = open_database(settings)
    built = build_cases(db)
    app = create_app(settings, db)
    try:
        with serving(app) as url:
            yield url, built, settings.home
    finally:
        db.dispose()


def test_publish_in_the_console_then_read_it_signed_out(
        served: tuple[str, Cases, Path], sqlite_home: Settings) -> None:
    base, built, _home = served
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])
        staff = browser.new_context(viewport=VIEWPORT, base_url=base)
        page = staff.new_page()
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.goto(f"/cases/{built.done}")
        page.fill("input[name=username]", STAFF)
        page.fill("input[name=password]", PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/cases/{built.done}")
        form = page.locator("#publish-form")
        form.locator("textarea[name=summary]").fill(SUMMARY)
        for field in ("site", "works", "outcome", "urls_removed", "campaign"):
            form.locator(f"input[value={field}]").check()
        form.locator("button[type=submit]").click()
        expect(page.locator("#publication-state")).to_contain_text("published")
        public_link = page.locator("#publication-state a")
        expect(public_link).to_have_attribute("href", f"/public/cases/{built.done}")

        visitor = browser.new_context(viewport=VIEWPORT, base_url=base,
                                      java_script_enabled=False)
        public = visitor.new_page()
        response = public.goto(f"/public/cases/{built.done}")
        assert response is not None and response.status == 200
        assert visitor.cookies() == []  # signed out
        expect(public.locator("h1")).to_have_text(f"Case {built.done}: published-host.example")
        expect(public.locator("p.summary")).to_have_text(SUMMARY)  # the <b> is text
        expect(public.locator(".field-outcome")).to_have_text("copies removed")
        expect(public.locator(".field-urls_removed")).to_have_text("1")
        assert public.locator(".field-notices_sent").count() == 0  # not chosen
        public.click("text=Spring Sweep 2026")
        expect(public.locator("[data-measure=cases]")).to_have_text("1")
        public.goto(f"/public/cases/{built.done}")
        save_screenshot(public, "public-case.png")
        browser.close()
    assert errors == []
    db = open_database(sqlite_home)
    with db.session() as session:
        publication = session.get(CasePublication, built.done)
        assert publication is not None and publication.published_by == STAFF
        assert publication.fields == ["site", "works", "outcome", "urls_removed", "campaign"]
    db.dispose()
