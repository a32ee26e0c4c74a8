"""Headless Chromium: the settings page shows each calendar's state, last sync, next renewal and error."""
from playwright.sync_api import expect

from callvault.calendars import sync
from callvault.models import Calendar
from tests.support.browser import sign_in
from tests.support.calendars import MEMBER_EMAIL, at, connect_both_then_lose_microsoft

SCREENSHOT = "/tmp/callvault-calendars-settings.png"


def test_settings_show_a_connected_and_a_disconnected_calendar(calendar_app, google, microsoft, client, auth, member,
                                                               drain, page, live_server):
    google.add_event(MEMBER_EMAIL, "Standup", at(1), at(1, 1), hangoutLink="https://meet.google.com/abc-defg-hij")
    connect_both_then_lose_microsoft(calendar_app, google, microsoft, client, auth, drain)
    with calendar_app.app_context():
        google.drop_next(3, "/calendar/v3")  # a network outage: an error shown, the calendar stays connected
        gmail = Calendar.query.filter_by(provider="google").one()
        assert sync.sync_calendar(gmail.id).status == "failed"

    sign_in(page, live_server.url, MEMBER_EMAIL)
    page.goto(live_server.url + "/settings/#calendars")
    section = page.locator("#calendars")
    connected = section.locator(".calendar-entry").filter(has_text="Google")
    disconnected = section.locator(".calendar-entry").filter(has_text="Microsoft")
    expect(connected.locator(".badge")).to_have_text("Connected")
    expect(connected.get_by_role("button", name="Sync now")).to_be_visible()
    expect(connected.locator("dd").nth(0).locator("time")).to_be_visible()  # last successful sync
    expect(connected.locator("dd").nth(1)).to_contain_text("push channel expires")
    expect(connected.locator("dd").nth(2)).to_have_text("Google Calendar could not be reached (3 tries; will retry later)")
    expect(disconnected.locator("dd").nth(2)).to_have_text("none")
    expect(disconnected.locator(".badge")).to_have_text("Disconnected")
    expect(disconnected.get_by_role("alert")).to_contain_text("no longer accepts this authorization")
    expect(disconnected.get_by_role("link", name="Reconnect")).to_be_visible()
    expect(page.locator("main > .flash-error").first).to_contain_text("Reconnect it in Settings")
    page.screenshot(path=SCREENSHOT, full_page=True)
