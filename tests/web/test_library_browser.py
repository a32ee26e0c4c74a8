"""The foundation in a real browser: sign in, live library filters, a call's transcript."""
from tests.support.browser import sign_in, wait_until


def test_sign_in_filter_live_and_read_a_transcript(page, live_server, member, make_call, tmp_path):
    make_call(member, external_id="1", title="Pricing review", segments=4)
    make_call(member, external_id="2", title="Hiring sync", segments=2)
    make_call(member, external_id="3", title="Bot standup", source="bot")

    sign_in(page, live_server.url, "member@example.com")
    rows = page.locator("#calls-table tbody tr")
    assert rows.count() == 3

    page.evaluate("window.notReloaded = true")
    page.fill("input[name=q]", "pric")  # htmx swaps the table for search hits; the page is not reloaded
    wait_until(page, "document.querySelectorAll('#calls-table .hits li.hit').length === 1")
    assert "Pricing review" in page.inner_text("#calls-table .hits li.hit")
    assert page.inner_text("#calls-table .hits li.hit mark") == "Pricing"  # the word being typed, marked
    assert "q=pric" in page.url  # the filter is in the address bar, so a reload keeps it
    assert page.evaluate("window.notReloaded") is True

    page.fill("input[name=q]", "")
    page.select_option("select[name=source]", "bot")
    wait_until(page, "document.querySelector('#calls-table').innerText.includes('Bot standup') && "
                           "document.querySelectorAll('#calls-table tbody tr').length === 1")

    page.select_option("select[name=source]", "")
    wait_until(page, "document.querySelectorAll('#calls-table tbody tr').length === 3")
    assert page.evaluate("window.notReloaded") is True
    page.click("text=Pricing review")
    page.wait_for_selector("#transcript")
    assert page.locator("#transcript li.seg").count() == 4
    assert "Line number 3" in page.inner_text("#transcript")
    page.screenshot(path=str(tmp_path / "call.png"), full_page=True)


def test_wrong_password_shows_a_message(page, live_server, member):
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", "member@example.com")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "Wrong email or password." in page.inner_text(".flash-error")
