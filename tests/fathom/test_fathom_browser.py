"""In a real browser: fetch the Fathom list, select two meetings, sync, watch the progress row finish."""
from tests.support.browser import sign_in, wait_until
from tests.support.fathom import MEMBER_EMAIL, store_api_key


def test_fetch_select_two_sync_and_watch_progress(page, live_server, fathom_app, sandbox, member, drain):
    store_api_key(fathom_app, member, sandbox)
    meetings = sandbox.add_meetings(MEMBER_EMAIL, 5, transcript_segments=3)
    sign_in(page, live_server.url, MEMBER_EMAIL)
    page.goto(f"{live_server.url}/fathom/sync")
    page.click("text=Fetch meetings")
    page.wait_for_selector("#fathom-meetings input[name=recording_id]")
    assert page.locator("#fathom-meetings tbody tr").count() == 5
    assert page.locator("#fathom-meetings tbody tr", has_text="not synced").count() == 5

    for meeting in meetings[:2]:
        page.check(f"input[name=recording_id][value='{meeting['recording_id']}']")
    page.click("button[value=selected]")
    row = page.locator("#sync-jobs tr.job").first
    row.wait_for()
    assert "0 done · 0 failed · 2 total" in row.inner_text()

    drain()  # the worker runs the job; the row polls until it is done
    wait_until(page, "document.querySelector('#sync-jobs tr.job .badge').innerText === 'succeeded'")
    assert "2 done · 0 failed · 2 total" in row.inner_text()
    assert row.get_attribute("hx-trigger") is None  # polling stopped
    page.screenshot(path="/tmp/fathom_sync.png", full_page=True)

    page.click("text=Fetch meetings")
    wait_until(page, "document.querySelectorAll('#fathom-meetings a.badge-ok').length === 2")
