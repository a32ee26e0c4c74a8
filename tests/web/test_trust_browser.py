"""Issue 13, items 1 and 2 in headless Chromium: every page, visited as an admin (and the sign-in page
and the viewer as anyone), carries the security headers and works under the Content-Security-Policy
with no violation and no console error; a Fathom meeting whose share link is `javascript:` shows no such
link after a sync made through the pages (with "Select all", moved out of an inline handler)."""
import re

from callvault.extensions import db
from callvault.models import Call, WebhookDelivery
from callvault.transcripts import links
from tests.support.browser import sign_in, wait_until
from tests.support.fathom import store_api_key
from tests.web.test_trust_security_headers import assert_defended

ADMIN = "admin@example.com"
# GET endpoints that are not pages a person visits: files, JSON, partials htmx fetches, redirects.
NOT_PAGES = {"static", "health.healthz", "calls.index", "calls.download", "transcripts.download",
             "exports.bundle_download", "exports.bundle_status", "fathom.job_row", "fathom.meetings",
             "fathom.oauth_start", "fathom.oauth_callback", "calendars.google_start", "calendars.google_callback",
             "calendars.microsoft_start", "calendars.microsoft_callback",
             "bots.detail", "bots.confirm_cancel",  # a bot's own pages: tests/bots/test_bots_page.py
             "mcp_oauth.authorize"}  # needs a client's request: tests/mcp/test_mcp_oauth.py

WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || ""));
});
"""


class PageWatch:
    """Console errors and CSP violations of one browser page, across navigations."""

    def __init__(self, page):
        self.page, self.errors = page, []
        page.add_init_script(WATCH_CSP)
        page.on("console", lambda message: self.errors.append(
            f"console {message.type}: {message.text} at {message.location.get('url')}")
            if message.type in ("error", "warning") else None)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))

    def visit(self, url: str, status: int = 200):
        response = self.page.goto(url)
        assert response.status == status, (url, response.status)
        assert_defended(response)
        if status >= 400:  # Chromium reports an error page's own status as a console error
            self.errors = [e for e in self.errors if not (e.startswith("console error: Failed to load resource")
                                                          and e.endswith(f" at {url}"))]
        self.settle(url)
        return response

    def settle(self, where: str):
        self.page.wait_for_load_state("networkidle")
        violations = self.page.evaluate("window.__csp || []")
        assert violations == [] and self.errors == [], (where, violations, self.errors)


def test_every_page_works_under_the_policy_with_no_violation(app, page, live_server, sandbox, admin, drain):
    from tests.support.fathom import point_at
    point_at(app, sandbox)
    store_api_key(app, admin, sandbox, email=ADMIN)
    evil = sandbox.add_meeting(ADMIN, transcript_segments=3, share_url="javascript:alert(document.domain)",
                               title="Evil share link")
    sandbox.add_meetings(ADMIN, 2, transcript_segments=3)
    # A rejected webhook for the deliveries pages.
    live_page_watch = PageWatch(page)
    page.request.post(live_server.url + "/webhooks/fathom", data=b"{}")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    live_page_watch.visit(live_server.url + "/login")
    sign_in(page, live_server.url, ADMIN)

    # The Fathom page: fetch, "Select all" (a static script now), sync, all under the policy.
    live_page_watch.visit(live_server.url + "/fathom/sync")
    page.click("text=Fetch meetings")
    page.wait_for_selector("#fathom-meetings input[name=recording_id]")
    page.check("input[data-select-all]")
    assert page.locator("input[name=recording_id]:checked").count() == 3
    page.uncheck("input[data-select-all]")
    assert page.locator("input[name=recording_id]:checked").count() == 0
    page.check("input[data-select-all]")
    page.click("button[value=selected]")
    page.locator("#sync-jobs tr.job").first.wait_for()
    drain()
    wait_until(page, "document.querySelector('#sync-jobs tr.job .badge').innerText === 'succeeded'")
    live_page_watch.settle("fathom sync")

    with app.app_context():
        evil_call = db.session.query(Call).filter_by(external_id=str(evil["recording_id"])).one()
        assert evil_call.share_url is None and evil_call.recording_url.startswith("https://")
        call_id = evil_call.id
        delivery_id = db.session.query(WebhookDelivery.id).scalar()
        token = links.create_token(app.config["TRANSCRIPT_TOKEN_SECRET"], call_id, ADMIN)
    ids = {"call_id": call_id, "delivery_id": delivery_id, "recording_id": evil["recording_id"]}

    visited = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in NOT_PAGES or rule.endpoint.startswith(("api.", "dashboard.api_")):
            continue
        if rule.endpoint == "transcripts.viewer":
            path = f"/dashboard/transcripts/{call_id}/?token={token}"
        else:
            missing = set(rule.arguments) - set(ids)
            assert not missing, f"a new page {rule.rule}: give this tour an id for {missing} (or list it in NOT_PAGES)"
            path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids[m.group(1)]), rule.rule)
        live_page_watch.visit(live_server.url + path)
        visited.add(rule.endpoint)
        hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
        assert not [h for h in hrefs if re.match(r"^\W*(javascript|data|vbscript):", h, re.IGNORECASE)], path
    assert {"calls.library", "calls.detail", "settings.index", "fathom.sync_page", "fathom.preview", "exports.index",
            "dashboard.index", "webhook_pages.index", "webhook_pages.detail", "transcripts.viewer"} <= visited

    # htmx at work under the policy: the library's live search, the dashboard's day picker.
    live_page_watch.visit(live_server.url + "/calls")
    page.fill("input[type=search]", "Evil")
    wait_until(page, "location.search.includes('Evil')")
    live_page_watch.settle("library search")
    live_page_watch.visit(live_server.url + "/calls/999999999", status=404)

    page.goto(f"{live_server.url}/calls/{call_id}")
    recording = page.locator("a", has_text="Recording")
    assert recording.get_attribute("href").startswith("https://")
    assert dialogs == []
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/settings/#account")
    page.screenshot(path="/tmp/t13a-settings-390.png", full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.screenshot(path="/tmp/t13a-settings-1366.png", full_page=True)
    live_page_watch.settle("settings")
