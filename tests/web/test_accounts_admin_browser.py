"""The accounts page in Chromium at phone and desktop sizes: nothing spills sideways, destructive
actions ask first (static js, no inline script), and approving a claim works end to end."""
import pytest

from callvault import accounts
from callvault.extensions import db
from callvault.models import HostEmail, User
from tests.support.browser import sign_in


@pytest.mark.parametrize("width,height", [(390, 844), (1366, 900)])
def test_accounts_page_fits_and_asks_before_destructive_actions(app, browser, live_server, admin, member,
                                                                width, height):
    with app.app_context():
        accounts.add_host_email(db.session.get(User, member), "a.really.long.colleague.address@subsidiary.example.com")
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors = []  # the favicon is issue 15 item 12's: its 404 is not this page's error
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    try:
        sign_in(page, live_server.url, "admin@example.com")
        page.goto(live_server.url + "/admin/users/")
        assert page.locator("h1").inner_text() == "Accounts"
        # The page's own content never scrolls sideways (the shared nav is issue 15 item 2's).
        main_width = page.evaluate("document.querySelector('main').scrollWidth")
        assert main_width <= width, main_width
        page.screenshot(path=f"/tmp/callvault-accounts-{width}.png", full_page=True)

        asked = []
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
        page.locator(f"#account-{member} button", has_text="Deactivate").click()
        page.wait_for_timeout(300)
        assert asked == ["Deactivate member@example.com? They can no longer sign in or use their API tokens."]
        with app.app_context():
            assert db.session.get(User, member).is_active  # dismissed: nothing happened

        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
        page.locator("#host-email-requests button", has_text="Approve").click()
        page.wait_for_selector("text=now routes recordings to member@example.com")
        with app.app_context():
            assert HostEmail.query.filter_by(status="pending").count() == 0
        assert [e for e in errors if not e.startswith("Failed to load resource")] == []
    finally:
        context.close()
