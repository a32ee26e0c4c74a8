"""Issue 15 in a real browser, at a phone's and a laptop's size: a meeting that arrives appears in an
open library by itself, the search box survives Back, From after To says so; on the Fathom page a
synced row flips by itself and "Sync all in range" asks first. No sideways scroll, no console error,
no serious or critical axe-core violation. Screenshots go to $SCREENSHOT_DIR (default /tmp/callvault-pages)."""
import os
import time
from pathlib import Path

import pytest

PlaywrightError = pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-dev.txt").Error

from tests.support.browser import sign_in, wait_until
from tests.support.fathom import MEMBER_EMAIL, store_api_key

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1366, "height": 900}}
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp/callvault-pages"))


@pytest.fixture(scope="module")
def axe():
    pytest.importorskip("axe_playwright_python", reason="pip install -r requirements-dev.txt")
    from axe_playwright_python.sync_playwright import Axe
    return Axe()


@pytest.fixture(params=list(VIEWPORTS))
def sized_page(request, browser):
    context = browser.new_context(viewport=VIEWPORTS[request.param])
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    page.size_name = request.param
    yield page
    context.close()


def fits_and_passes_axe(page, axe, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{page.size_name}-{name}.png"), full_page=True)
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"scrolls sideways: {width} px in {inner} px"
    bad = [v["id"] for v in axe.run(page).response["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == [] and page.console_errors == []


def wait_across_reload(page, expression: str, timeout: float = 30.0) -> None:
    """wait_until for a page that is about to load again (its context may vanish under the check)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if page.evaluate(expression):
                return
        except PlaywrightError as exc:
            if "Execution context was destroyed" not in str(exc):
                raise
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        page.wait_for_timeout(50)


def test_library_updates_itself_keeps_its_box_on_back_and_says_when_dates_are_reversed(
        app, sized_page, axe, live_server, member, make_call):
    page = sized_page
    app.config["LIBRARY_POLL_SECONDS"] = 1
    make_call(member, external_id="1", title="Pricing review")
    make_call(member, external_id="2", title="Hiring sync")
    sign_in(page, live_server.url, "member@example.com")
    page.evaluate("window.notReloaded = true")
    make_call(member, external_id="3", title="Arrived by webhook")
    wait_until(page, "document.querySelector('#calls-table').innerText.includes('Arrived by webhook')")
    assert page.evaluate("window.notReloaded") is True  # htmx swapped the table in; no reload
    fits_and_passes_axe(page, axe, "library-live")

    page.fill("input[name=q]", "pricing")
    wait_until(page, "location.search.includes('q=pricing') && document.querySelectorAll('.hits li.hit').length === 1")
    page.fill("input[name=q]", "hiring")
    wait_until(page, "location.search.includes('q=hiring') && "
                     "document.querySelector('.hits').innerText.includes('Hiring')")
    page.go_back()  # no snapshot of the filtered page: htmx loads it again from its address
    wait_across_reload(page, "location.search.includes('q=pricing') && document.readyState === 'complete' && "
                             "document.querySelector('input[name=q]').value === 'pricing'")
    wait_until(page, "document.querySelector('.hits') && document.querySelector('.hits').innerText.includes('Pricing')")

    page.goto(f"{live_server.url}/calls?since=2026-12-05&until=2026-12-01")
    assert "is after the To date" in page.inner_text("#calls-table .flash-error")
    assert page.input_value("input[name=since]") == "2026-12-05"
    fits_and_passes_axe(page, axe, "library-reversed-dates")


def test_fathom_rows_flip_to_synced_and_sync_all_in_range_asks_first(
        fathom_app, sandbox, sized_page, axe, live_server, member, drain):
    page = sized_page
    store_api_key(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 3, transcript_segments=1)
    sign_in(page, live_server.url, MEMBER_EMAIL)
    page.goto(f"{live_server.url}/fathom/sync")
    page.click("text=Fetch meetings")
    page.wait_for_selector("#fathom-meetings table")
    first = page.locator("#fathom-meetings tbody tr").first
    first.locator("input[name=recording_id]").check()
    page.click("text=Sync selected")
    page.wait_for_selector("#sync-jobs tr.job")
    drain()
    wait_until(page, "document.querySelectorAll('#fathom-meetings .sync-status .badge-ok').length === 1")
    assert first.locator(".sync-status").inner_text().strip() == "synced"

    page.click("text=Sync all in range")
    page.wait_for_selector("#range-confirm .range-confirm")
    text = page.inner_text("#range-confirm")
    assert "Sync 2 of 3 meetings in this range?" in text and "1 is already synced and unchanged" in text
    fits_and_passes_axe(page, axe, "fathom-range-confirm")
    page.click("#range-confirm button[type=submit]")
    wait_until(page, "document.querySelectorAll('#sync-jobs tr.job').length === 2")
    wait_until(page, "document.querySelector('#range-confirm').children.length === 0")  # answered: gone
    drain()
    wait_until(page, "document.querySelectorAll('#fathom-meetings .sync-status .badge-ok').length === 3")
    wait_until(page, "document.querySelector('#sync-jobs').innerText.includes('1 unchanged, skipped')")
    fits_and_passes_axe(page, axe, "fathom-synced")
