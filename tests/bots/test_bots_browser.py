"""Headless Chromium: the settings card "Recording bots" keeps the chosen auto-record mode."""
from playwright.sync_api import expect

from callvault.models import BotPreference
from tests.support.browser import sign_in

SCREENSHOT = "/tmp/callvault-recording-bots-settings.png"


def test_choosing_external_only_is_saved_and_kept_after_a_reload(app, page, live_server, member):
    sign_in(page, live_server.url, "member@example.com")
    page.goto(live_server.url + "/settings/#auto-record")
    card = page.locator("#auto-record")
    expect(card.get_by_role("heading", name="Recording bots")).to_be_visible()
    mode = card.get_by_label("Record")
    expect(mode).to_have_value("all")  # no choice made: every meeting with a link is recorded
    expect(card.locator("[data-what-happens]")).to_contain_text("Now: a bot joins every meeting with a video link")
    mode.select_option(label="meetings with outside guests")
    card.get_by_role("button", name="Save").click()
    page.wait_for_url(lambda url: url.endswith("/settings/#auto-record"))
    expect(page.get_by_text("Recording bots: saved.")).to_be_visible()
    page.reload()
    card = page.locator("#auto-record")
    expect(card.get_by_label("Record")).to_have_value("external")
    expect(card.locator("option:checked")).to_have_text("meetings with outside guests")
    expect(card.locator("[data-what-happens]")).to_contain_text("someone outside your company is invited")
    card.scroll_into_view_if_needed()
    page.screenshot(path=SCREENSHOT, full_page=True)
    with app.app_context():
        assert [(p.user_id, p.auto_record) for p in BotPreference.query.all()] == [(member, "external")]
