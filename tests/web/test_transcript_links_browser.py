"""Headless Chromium: a transcript line's time opens the recording at that moment in a new tab, with no
opener, and says so in its tooltip (viewer.js; the lines carry only the link)."""
from playwright.sync_api import expect

from callvault.calls.store import upsert_call
from callvault.extensions import db
from callvault.models import User
from callvault.transcripts import links
from tests.support.calls import sample_call


def test_a_time_opens_the_recording_there_in_a_new_tab(app, page, live_server, member):
    recording = f"{live_server.url}/healthz?share=1"  # a page this server answers stands in for Fathom's
    with app.app_context():
        data = sample_call(segments=5)
        data.share_url = recording
        call_id = upsert_call(db.session.get(User, member), data).call.id
        token = links.create_token(app.config["TRANSCRIPT_TOKEN_SECRET"], call_id, "guest@outside.example")
    page.goto(f"{live_server.url}/dashboard/transcripts/{call_id}/?token={token}")
    time_link = page.locator("#transcript a.ts").nth(2)
    time_link.hover()
    expect(time_link).to_have_attribute("title", "Open the recording at " + time_link.inner_text())

    with page.context.expect_page() as opened:
        time_link.click()
    recording_tab = opened.value
    recording_tab.wait_for_load_state()
    seconds = int(time_link.get_attribute("href").rsplit("timestamp=", 1)[1])
    assert recording_tab.url == f"{recording}&timestamp={seconds}"
    assert recording_tab.evaluate("window.opener") is None
    assert page.url.startswith(f"{live_server.url}/dashboard/transcripts/{call_id}/")  # the viewer stays
