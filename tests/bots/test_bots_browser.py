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


BOTS_SCREENSHOT = "/tmp/callvault-bots-{name}.png"


def seed_bots(attendee):
    """An admin and Ada's bots in several states: one recording, one waiting, one missed, one cancelled."""
    from callvault.extensions import db
    from callvault.models import User
    from tests.support.bots import at, calendar, change, event, sync_changed, tick, user
    root = user("root@acme.test")
    db.session.get(User, root).role = "admin"
    db.session.commit()
    ada_cal = calendar(user("ada@acme.test", name="Ada Lovelace"), "ada@acme.test")
    long_title = "Quarterly planning with the whole customer success organisation and their partners"
    ids = [event(ada_cal, long_title, at(-24, -10), minutes=60),
           event(ada_cal, "Design review", at(-24, 30), minutes=30, url="https://zoom.us/j/81234567890"),
           event(ada_cal, "Nobody came", at(-26), minutes=30, url="https://zoom.us/j/81234567891"),
           event(ada_cal, "Dropped", at(-23), minutes=30, url="https://zoom.us/j/81234567892")]
    sync_changed(*ids[:2], ids[3], now=at(-24))
    sync_changed(ids[2], now=at(-26, -10))
    from callvault.bots import dispatcher
    attendee.down = True
    dispatcher.tick(now=at(-25, -30))  # the service is down during "Nobody came": missed
    attendee.down = False
    tick(attendee, at(-24))
    change(ids[3], is_cancelled=True)
    sync_changed(ids[3], now=at(-24))
    return ids


def test_the_bots_page_on_a_phone_and_a_laptop(bot_app, attendee, page, live_server):
    with bot_app.app_context():
        seed_bots(attendee)
    sign_in(page, live_server.url, "root@acme.test")
    for name, size in (("laptop", {"width": 1366, "height": 900}), ("phone", {"width": 390, "height": 844})):
        page.set_viewport_size(size)
        page.goto(live_server.url + "/bots/")
        expect(page.get_by_role("heading", name="Recording bots")).to_be_visible()
        table = page.locator("#bots-table")
        expect(table.get_by_text("waiting to join")).to_be_visible()
        expect(table.get_by_text("missed", exact=True)).to_be_visible()
        expect(table.get_by_text("cancelled", exact=True)).to_be_visible()
        page.screenshot(path=BOTS_SCREENSHOT.format(name=name), full_page=True)
        # No sideways scroll of the page: a wide table scrolls inside its card.
        wide = page.evaluate("""Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.table-scroll')).map(e => e.tagName + '.' + e.className).slice(0, 8)""")
        assert page.evaluate("document.documentElement.scrollWidth") <= size["width"], wide

    page.select_option("select[name=state]", label="missed")  # htmx swaps the table; the URL keeps the filter
    expect(page.locator("#bots-table tbody tr")).to_have_count(1)
    expect(page.locator("#bots-table")).to_contain_text("Nobody came")
    assert "state=missed" in page.url
    page.select_option("select[name=state]", label="Every state")
    expect(page.locator("#bots-table tbody tr")).to_have_count(4)

    page.locator("tr", has_text="Design review").get_by_role("link", name="Cancel…").click()
    expect(page.get_by_role("heading", name="Cancel this bot?")).to_be_visible()
    page.get_by_role("button", name="Yes, cancel the bot").click()
    expect(page.get_by_text("Cancelled: no bot will record this meeting")).to_be_visible()
    expect(page.locator("#timeline")).to_contain_text("cancelled by root@acme.test")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=BOTS_SCREENSHOT.format(name="phone-cancelled"), full_page=True)
    with bot_app.app_context():
        from tests.support.bots import bots
        assert [b.state for b in bots() if b.title == "Design review"] == ["cancelled"]
