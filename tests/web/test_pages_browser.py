"""Every page in a real browser, at a phone's and a laptop's size, as an admin, as a member and
signed out: no sideways scroll, no console error, no serious or critical axe-core violation, no raw
state names. The data is `make run`'s demo after its scheduler has run a few cycles (so the demo is
checked too), plus a member with calls of their own and a few logged webhook deliveries.

Screenshots go to $SCREENSHOT_DIR (default /tmp/callvault-pages), one per page and size.
"""
import os
import re
from pathlib import Path

import pytest
import requests

from callvault.accounts import create_user
from callvault.calls.store import upsert_call
from callvault.demo import DEMO_EMAIL
from callvault.extensions import db
from callvault.models import Call, WebhookDelivery
from callvault.transcripts.links import make_link
from tests.core.test_demo_world import run_periodic_jobs
from tests.support.browser import wait_until
from tests.support.calls import sample_call
from tests.support.web import PASSWORD, LiveServer
from tests.support.webhooks import record_inbox

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1366, "height": 900}}
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp/callvault-pages"))
MEMBER = "member@example.com"
NEWCOMER = "newcomer@example.com"  # a member with nothing yet: the first-run checklist and disabled actions
BAD_IMPACTS = ("serious", "critical")
RAW_STATE = re.compile(r"\b[a-z]+_[a-z_]+\b")


@pytest.fixture(scope="module")
def axe():
    pytest.importorskip("axe_playwright_python", reason="pip install -r requirements-dev.txt")
    from axe_playwright_python.sync_playwright import Axe
    return Axe()


@pytest.fixture
def demo_site(app, app_factory):
    """The demo, its scheduler run for a few cycles, served on loopback; yields (url, paths by who).
    (`app` empties the test database first.)"""
    app = app_factory(FATHOM_SANDBOX=True, TRANSCRIPT_TOKEN_SECRET="browser-test-secret")
    world = app.extensions["demo_world"]
    world.player.stop()
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    demo_password = re.search(r"with password: (\S+)", result.output).group(1)
    app.test_client().get("/login")  # connects the demo account to its sandboxes
    run_periodic_jobs(app, 3)
    with app.app_context():
        member = create_user(MEMBER, PASSWORD, name="Max Member")
        create_user(NEWCOMER, PASSWORD, name="Nina Newcomer")
        member_call = upsert_call(member, sample_call(external_id="m1", title="Member's own meeting",
                                                      segments=6)).call.id
        demo_call = Call.query.filter_by(source="fathom").order_by(Call.started_at.desc()).first()
        viewer = make_link(demo_call, demo_call.participants[0].email)
        viewer_path = viewer[viewer.index("/dashboard/"):]
        demo_call_id = demo_call.id
    with LiveServer(app) as server:
        for path in ("/webhooks/fathom", "/webhooks/attendee"):  # rejected (unsigned), but logged
            requests.post(server.url + path, data=b'{"not": "signed"}',
                          headers={"Content-Type": "application/json"}, timeout=10)
        record_inbox(app)  # what a worker's drain does first (the Redis intake keeps requests there until then)
        with app.app_context():
            delivery_id = db.session.query(db.func.max(WebhookDelivery.id)).scalar()
        common = ["/calls", "/settings/", "/fathom/sync", "/exports/"]
        yield server.url, {
            "admin": (DEMO_EMAIL, demo_password, common + [f"/calls/{demo_call_id}", "/calls?q=release",
                                                           "/dashboard/", "/admin/webhook-deliveries/", "/fathom/sync#fetch",
                                                           "/admin/setup/",
                                                           f"/admin/webhook-deliveries/{delivery_id}", viewer_path]),
            "member": (MEMBER, PASSWORD, common + [f"/calls/{member_call}"]),
            "newcomer": (NEWCOMER, PASSWORD, ["/calls", "/fathom/sync", "/exports/"]),
            "signed-out": (None, None, ["/login", viewer_path]),
        }
    world.stop()


def check_page(page, axe, url: str, name: str, errors: list[str]) -> list[str]:
    problems = []
    errors.clear()
    response = page.goto(url.split("#")[0])
    page.wait_for_load_state("networkidle")
    if url.endswith("#fetch"):  # the Fathom page with the demo's meetings fetched (htmx)
        page.click("text=Fetch meetings")
        page.wait_for_selector("#fathom-meetings table")
    if response is None or response.status >= 400:
        problems.append(f"HTTP {response.status if response else 'no answer'}")
    if page.locator("#find").count():  # find in transcript (call page and signed viewer)
        page.fill("#find", page.eval_on_selector("#transcript .text", "e => e.textContent.trim().split(' ')[0]"))
        wait_until(page, "document.getElementById('find-count').textContent.includes(' of ')")
        if page.locator("#transcript li:not([hidden]) mark").count() == 0:
            problems.append("find in transcript marked nothing")
        page.fill("#find", "")
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if width > inner:
        problems.append(f"scrolls sideways: {width} px wide in {inner} px")
    problems += [f"console: {e}" for e in errors]
    for violation in axe.run(page).response["violations"]:
        if violation["impact"] in BAD_IMPACTS:
            targets = [node["target"] for node in violation["nodes"]][:3]
            problems.append(f"axe {violation['impact']}: {violation['id']} ({violation['help']}) at {targets}")
    badges = page.eval_on_selector_all(".badge", "els => els.map(e => e.textContent.trim())")
    problems += [f"raw state shown: {b!r}" for b in badges if RAW_STATE.search(b)]
    return problems


def check_phone_menu(page, base_url: str, failures: list[str]) -> None:
    """The navigation folds behind a menu button; the header stays short."""
    if page.is_visible("#site-nav"):
        failures.append("phone: the navigation is not folded behind the menu button")
    header = page.evaluate("document.querySelector('.topbar').getBoundingClientRect().height")
    if header > 80:
        failures.append(f"phone: the header is {header} px tall")
    page.click(".menu-button")
    page.click("#site-nav a[href='/settings/']")
    page.wait_for_url(f"{base_url}/settings/")


def test_every_page_fits_a_phone_and_passes_axe(browser, axe, demo_site):
    base_url, who = demo_site
    SHOTS.mkdir(parents=True, exist_ok=True)
    failures = []
    for size, viewport in VIEWPORTS.items():
        for role, (email, password, paths) in who.items():
            context = browser.new_context(viewport=viewport)
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            if email:
                page.goto(f"{base_url}/login")
                page.fill("input[name=email]", email)
                page.fill("input[name=password]", password)
                page.click("button[type=submit]")
                page.wait_for_url(f"{base_url}/calls")
            if email and size == "phone":
                check_phone_menu(page, base_url, failures)
            for path in paths:
                name = f"{size}-{role}-{re.sub(r'[^a-z0-9]+', '-', path.split('?token')[0].lower()).strip('-')}"
                for problem in check_page(page, axe, base_url + path, name, errors):
                    failures.append(f"{size} {role} {path.split('?token')[0]}: {problem}")
            context.close()
    assert failures == [], "\n".join(failures)
