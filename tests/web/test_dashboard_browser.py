"""Headless Chromium: the dashboard refreshes itself and keeps the chosen day; the viewer never runs
HTML from a meeting; an expired link shows the 403 page."""
from datetime import datetime, timedelta, timezone

from playwright.sync_api import expect

from callvault.calls.store import SegmentData, upsert_call
from callvault.extensions import db
from callvault.models import Calendar, CalendarEvent, User
from callvault.transcripts import links
from tests.support.browser import sign_in
from tests.support.calls import sample_call

DAY = datetime(2026, 11, 2, 10, tzinfo=timezone.utc)
EVIL = '<script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 2">'


def test_the_dashboard_refreshes_itself_and_keeps_the_chosen_day(app, page, live_server, admin, member, make_call):
    app.config["DASHBOARD_REFRESH_SECONDS"] = 1
    sign_in(page, live_server.url, "admin@example.com")
    page.goto(live_server.url + "/dashboard/")
    page.evaluate("window.__notReloaded = true")

    page.fill("input[name=date]", "2026-11-02")
    body = page.locator("#dash-body")
    expect(body).to_have_attribute("data-day", "2026-11-02")
    stored = page.locator('[data-stage="transcripts_stored"] .stage-count')
    expect(stored).to_have_text("0")

    make_call(member, external_id="arrives-later", title="Arrived while watching", started_at=DAY)
    with app.app_context():
        calendar = Calendar(user_id=member, provider="google", auth_method="oauth", account_email="member@example.com",
                            deduplication_key="member@example.com-google-oauth")
        db.session.add(calendar)
        db.session.flush()
        db.session.add(CalendarEvent(calendar_id=calendar.id, provider_event_id="e1", title="Booked while watching",
                                     start_at=DAY, end_at=DAY + timedelta(minutes=30),
                                     meeting_url="https://meet.google.com/abc-defg-hij", meeting_platform="google_meet"))
        db.session.commit()
    expect(stored).to_have_text("1", timeout=10_000)
    expect(page.get_by_text("Arrived while watching")).to_be_visible()
    expect(page.locator("#day-events")).to_contain_text("Booked while watching", timeout=10_000)
    expect(page.locator('[data-stage="calendar_events"] .stage-count')).to_have_text("1")
    assert page.evaluate("window.__notReloaded") is True
    expect(body).to_have_attribute("data-day", "2026-11-02")
    expect(page.locator("input[name=date]")).to_have_value("2026-11-02")
    assert "date=2026-11-02" in page.url
    page.screenshot(path="/tmp/callvault-dashboard.png", full_page=True)


def test_the_viewer_never_runs_html_from_a_meeting(app, page, live_server, member):
    with app.app_context():
        data = sample_call(title="Evil " + EVIL, summary="## Summary\nHello " + EVIL, segments=40)
        data.segments.insert(1, SegmentData(speaker="Mallory " + EVIL, text="Look: " + EVIL, start_ms=2500))
        call_id = upsert_call(db.session.get(User, member), data).call.id
        token = links.create_token(app.config["TRANSCRIPT_TOKEN_SECRET"], call_id, "guest@outside.example")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    response = page.goto(f"{live_server.url}/dashboard/transcripts/{call_id}/?token={token}")
    assert response.status == 200
    page.wait_for_load_state("load")

    assert page.evaluate("window.__pwned") is None and dialogs == []
    assert page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert page.evaluate("[...document.scripts].filter(s => !s.src).length") == 0
    expect(page.locator("#transcript li").nth(1)).to_contain_text("Look: " + EVIL)
    expect(page.locator("#summary")).to_contain_text("Hello")
    expect(page.locator("h1")).to_contain_text("<script>")

    page.fill("#find", "line number 3")
    expect(page.locator("#find-count")).to_have_text("11 of 41 lines")  # 3, 13, 30–39
    expect(page.locator("#transcript li:not([hidden]) mark").first).to_have_text("Line number 3")
    page.fill("#find", EVIL[:20])
    expect(page.locator("#find-count")).to_have_text("1 of 41 lines")
    assert page.evaluate("window.__pwned") is None
    page.fill("#find", "")
    expect(page.locator("#find-count")).to_have_text("")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than a phone
    page.screenshot(path="/tmp/callvault-viewer-phone.png")


def test_an_expired_link_shows_the_403_page(app, page, live_server, member, make_call):
    call_id = make_call(member, title="Confidential roadmap")
    with app.app_context():
        token = links.create_token(app.config["TRANSCRIPT_TOKEN_SECRET"], call_id, "guest@outside.example",
                                   now=datetime.now(timezone.utc) - timedelta(days=31))
    response = page.goto(f"{live_server.url}/dashboard/transcripts/{call_id}/?token={token}")
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("403 · Link expired")
    expect(page.locator("main")).to_contain_text("This link has expired")
    assert "Confidential" not in page.content()
    page.screenshot(path="/tmp/callvault-expired.png")


def test_a_long_transcript_in_parts_finds_and_links_to_lines_in_every_part(app, page, live_server, member):
    """350 lines are four parts the browser lays out only near the screen: a link to a line deep in the
    third part scrolls it into view, and find-in-transcript reaches every part and shrinks the page."""
    with app.app_context():
        call_id = upsert_call(db.session.get(User, member), sample_call(title="Long one", segments=350)).call.id
        token = links.create_token(app.config["TRANSCRIPT_TOKEN_SECRET"], call_id, "guest@outside.example")
    page.set_viewport_size({"width": 1366, "height": 900})
    url = f"{live_server.url}/dashboard/transcripts/{call_id}/?token={token}"
    page.goto(url)
    assert page.locator("#transcript ol.transcript-part").count() == 4
    page.goto(f"{url}#{page.locator('#transcript li.seg').nth(250).get_attribute('id')}")
    target = page.locator("li.seg:target")
    expect(target).to_contain_text("Line number 250")
    expect(target).to_be_in_viewport()

    height = page.evaluate("document.documentElement.scrollHeight")
    page.fill("#find", "line number 34")
    expect(page.locator("#find-count")).to_have_text("11 of 350 lines")  # 34, 340–349
    expect(page.locator("#transcript li:not([hidden]) mark").last).to_have_text("Line number 34")
    assert page.evaluate("document.documentElement.scrollHeight") < height / 4  # no gap where lines were hidden
    page.screenshot(path="/tmp/callvault-viewer-long-find.png", full_page=True)
    page.fill("#find", "")
    expect(page.locator("#transcript li.seg:not([hidden])")).to_have_count(350)
