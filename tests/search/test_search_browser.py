"""Search in a real browser: type in the library's search box, see highlighted hits, land on that moment."""
from datetime import datetime, timedelta, timezone

from callvault.calls.store import CallData, SegmentData, upsert_call
from callvault.extensions import db
from callvault.models import User
from tests.support.browser import sign_in, wait_until


def test_type_a_query_see_highlighted_lines_and_open_the_call_at_that_moment(app, page, live_server, member,
                                                                            other_member, tmp_path):
    start = datetime(2026, 11, 2, 15, 0, tzinfo=timezone.utc)
    filler = [SegmentData(speaker=("Max Member", "Guest Person")[i % 2], text=f"Small talk number {i}.",
                          start_ms=i * 4_000) for i in range(60)]
    moment = SegmentData(speaker="Guest Person", text="The renewal price goes up ten percent in March.",
                         start_ms=245_000)
    with app.app_context():
        upsert_call(db.session.get(User, member), CallData(
            source="fathom", external_id="1", title="Customer check-in", started_at=start,
            summary_markdown="Talked about the contract.", segments=filler + [moment] + [
                SegmentData(speaker="Max Member", text=f"Wrap-up point {i}.", start_ms=250_000 + i * 3_000)
                for i in range(30)]))
        upsert_call(db.session.get(User, member), CallData(
            source="fathom", external_id="2", title="Roadmap", started_at=start + timedelta(days=1),
            segments=[SegmentData(speaker="Max Member", text="Nothing about money here.", start_ms=0)]))
        upsert_call(db.session.get(User, other_member), CallData(
            source="fathom", external_id="3", title="Someone else's renewal", started_at=start,
            segments=[SegmentData(speaker="Olga Other", text="Our renewal is private.", start_ms=0)]))

    sign_in(page, live_server.url, "member@example.com")
    assert page.locator("#calls-table tbody tr").count() == 2
    page.evaluate("window.notReloaded = true")
    page.locator("input[name=q]").press_sequentially("renewal pri", delay=40)  # results as you type
    wait_until(page, "document.querySelectorAll('#calls-table .hits li.hit').length === 1 && "
                           "document.querySelector('#calls-table .hit-lines mark') !== null && "
                           "new URLSearchParams(location.search).get('q') === 'renewal pri'")
    hit = page.locator("#calls-table .hits li.hit")
    assert "Customer check-in" in hit.locator(".hit-title").inner_text()
    assert "Someone else" not in page.inner_text("#calls-table")
    line = hit.locator(".hit-lines li a").first
    assert line.locator(".ts").inner_text() == "04:05"
    assert line.locator(".speaker").inner_text() == "Guest Person"
    assert line.locator("mark").all_inner_texts() == ["renewal", "price"]
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=str(tmp_path / "search-hits.png"), full_page=True)

    line.click()
    page.wait_for_url("**/calls/*#t245000")
    target = page.locator("li.seg:target")
    assert "The renewal price goes up ten percent in March." in target.inner_text()
    target_box = target.bounding_box()
    assert 0 <= target_box["y"] < 900  # scrolled to that moment, in the window
    assert page.evaluate("window.scrollY") > 0
    page.screenshot(path=str(tmp_path / "search-moment.png"))


def test_ask_in_other_words_see_the_passage_and_sort_by_date(app, page, live_server, member, tmp_path):
    start = datetime(2026, 11, 2, 15, 0, tzinfo=timezone.utc)
    with app.app_context():
        owner = db.session.get(User, member)
        upsert_call(owner, CallData(source="fathom", external_id="1", title="Northwind renewal", started_at=start,
                                    segments=[SegmentData(speaker="Guest Person", text="Thanks for making time.",
                                                          start_ms=0),
                                              SegmentData(speaker="Max Member", start_ms=83_000,
                                                          text="We agreed to cut their subscription fee by ten "
                                                               "percent.")]))
        upsert_call(owner, CallData(source="bot", external_id="2", title="Fee schedule", started_at=start +
                                    timedelta(days=1), segments=[SegmentData(
                                        speaker="Max Member", text="The fee schedule is attached.", start_ms=0)]))
    from callvault.queues import drain_queues
    with app.app_context():
        drain_queues()  # the enrichment jobs: passages and their vectors

    sign_in(page, live_server.url, "member@example.com")
    page.locator("input[name=q]").fill("did the client get a price reduction")
    wait_until(page, "document.querySelector('#calls-table .hits li.hit') !== null")
    first = page.locator("#calls-table .hits li.hit").first
    assert "Northwind renewal" in first.locator(".hit-title").inner_text()
    assert first.locator(".badge.match-meaning").inner_text() == "matched meaning"
    passage = first.locator(".hit-lines.related li a")
    assert passage.locator(".ts").inner_text() == "01:23" and "subscription fee" in passage.inner_text()
    for width, height in ((390, 844), (1366, 900)):
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(tmp_path / f"search-meaning-{width}.png"), full_page=True)

    page.locator("input[name=q]").fill("fee")
    wait_until(page, "document.querySelectorAll('#calls-table .hits li.hit').length === 2")
    page.select_option("select[name=sort]", "newest")
    wait_until(page, "new URLSearchParams(location.search).get('sort') === 'newest'")
    wait_until(page, "document.querySelector('#calls-table .hit-title').textContent.includes('Fee schedule')")
    page.screenshot(path=str(tmp_path / "search-newest.png"), full_page=True)
