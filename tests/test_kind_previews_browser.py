"""A video hit's aligned key frame strips in a real browser (Debian's Chromium, headless).

The review page fills both strips (work over copy) with images that load, their timestamps
under them, and a software hit's table of matched files; no console error (a CSP violation
would be one). With ``SWORDNET_SCREENSHOTS=1`` the run saves
``docs/screenshots/review-video-hit.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from swordnet.web.app import create_app
from tests.kind_previews import PASSWORD, PreviewData, build_preview_data
from tests.served_app import serving
from tests.test_console_browser import CHROMIUM, VIEWPORT, require_chromium, save_screenshot


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> PreviewData:
    require_chromium()
    return build_preview_data(tmp_path_factory.mktemp("kind-previews-browser"))


@pytest.fixture
def served(data: PreviewData, tmp_path: Path) -> Iterator[str]:
    """The app on a copy of the data, served by uvicorn on a free loopback port."""
    app = create_app(data.copy_to(tmp_path))
    try:
        with serving(app) as url:
            yield url
    finally:
        app.state.db.dispose()


def test_a_video_hit_shows_both_strips_without_csp_violations(data: PreviewData,
                                                             served: str) -> None:
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])
        page = browser.new_context(viewport=VIEWPORT, base_url=served).new_page()
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        path = f"/review?status=&hit={data.video_hit}"
        page.goto(path)
        page.fill("input[name=username]", "reviewer")
        page.fill("input[name=password]", PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url("**/review?*")
        hit = page.locator(f"#hit-{data.video_hit}")
        expect(hit).to_have_class(re.compile(r"\bcurrent\b"))
        status = hit.locator("[data-role=strip-status]")
        expect(status).to_contain_text("Copy time = work time −")
        for row in ("work", "copy"):
            images = hit.locator(f"[data-row={row}] .strip img")
            expect(images).to_have_count(8)
        page.wait_for_function(
            f"() => [...document.querySelectorAll('#hit-{data.video_hit} .strip img')]"
            ".every(i => i.complete && i.naturalWidth > 0)")
        work_times = hit.locator("[data-row=work] .strip-time").all_text_contents()
        copy_times = hit.locator("[data-row=copy] .strip-time").all_text_contents()
        assert len(work_times) == len(copy_times) == 8
        assert work_times != copy_times  # the copy was trimmed: its clock runs behind
        hit.locator(".video-strips").scroll_into_view_if_needed()
        save_screenshot(page, "review-video-hit.png")

        page.goto(f"/review?status=&hit={data.software_hit}")
        files = page.locator(f"#hit-{data.software_hit} .software-files")
        expect(files.locator("[data-side=work] td").first).to_have_text("lib/app.so")
        expect(files.locator("[data-side=copy] td").first).to_have_text("bin/app.so")
        expect(files.locator("[data-role=distance]")).to_contain_text("(threshold 35)")
        browser.close()
    assert errors == []
