"""The deliveries log in a real browser: a new delivery appears without a reload."""
import pytest
import requests

from tests.support.browser import wait_until
from tests.support.web import PASSWORD
from tests.support.webhooks import SECRET, URL, encode, meeting, record_inbox, signed, use_intake


@pytest.fixture
def app(app, intake_way):
    app.config["FATHOM_OAUTH_WEBHOOK_SECRET"] = SECRET
    return use_intake(app, intake_way)


def post(live_server, payload, secret=SECRET):
    body = encode(payload)
    return requests.post(live_server.url + URL, data=body, headers=signed(body, secret=secret), timeout=10)


def test_a_new_delivery_shows_up_in_the_live_table(app, page, live_server, admin, drain):
    assert post(live_server, meeting(recording_id=1, email="admin@example.com")).status_code == 202
    drain()
    page.goto(f"{live_server.url}/login?next=/admin/webhook-deliveries/")
    page.fill("input[name=email]", "admin@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#deliveries-table tbody tr")
    assert page.locator("#deliveries-table tbody tr").count() == 1
    page.evaluate("window.notReloaded = true")

    assert post(live_server, meeting(recording_id=2), secret="whsec_" + "A" * 32).status_code == 401
    record_inbox(app)  # what a worker's drain does (none runs here)
    wait_until(page, "document.querySelectorAll('#deliveries-table tbody tr').length === 2", timeout=10_000)
    assert page.evaluate("window.notReloaded") is True
    assert "rejected" in page.inner_text("#deliveries-table tbody tr:first-child")

    page.select_option("select[name=status]", "success")
    wait_until(page, "document.querySelectorAll('#deliveries-table tbody tr').length === 1")
    assert "status=success" in page.url
    page.screenshot(path="/tmp/webhook-deliveries.png", full_page=True)
    page.click("#deliveries-table tbody tr a")
    page.wait_for_selector("pre.body")
    assert "Team Sync Meeting" in page.inner_text("pre.body")
    page.screenshot(path="/tmp/webhook-delivery.png", full_page=True)
