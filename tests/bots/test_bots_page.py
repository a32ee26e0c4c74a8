"""The bots page (/bots/): filters, states in words, a timeline with source and reason, and the
actions — send now, cancel (confirmed first), fetch the transcript again — for the bot's owner or
an admin only. Plus the default for OAuth calendars and the dashboard's Bots card."""
import re

from callvault.bots import dispatcher
from callvault.calendars import sync
from callvault.dashboard import figures
from callvault.extensions import db
from callvault.models import Bot, BotEventChoice, User
from tests.support.bots import at, bots, calendar, event, sync_changed, tick, user
from tests.support.calendars import MEMBER_EMAIL, connect, only_calendar
from tests.support.web import csrf_from, login


def test_an_oauth_calendar_records_every_meeting_with_a_link_by_default_and_says_so(
        calendar_app, bot_app, attendee, google, client, auth, member, drain):
    google.add_user(MEMBER_EMAIL)
    google.add_event(MEMBER_EMAIL, "Solo planning", at(2), at(2, 30), hangoutLink="https://meet.google.com/abc-defg-hij",
                     attendees=[{"email": MEMBER_EMAIL, "responseStatus": "accepted"}])
    auth.login(MEMBER_EMAIL)
    page = connect(client, "google").get_data(as_text=True)
    assert "Recording bots: a bot joins every meeting with a video link on your connected calendars." in page
    settings = client.get("/settings/").get_data(as_text=True)
    assert "Now: a bot joins every meeting with a video link on your connected calendars" in settings
    with calendar_app.app_context():
        assert only_calendar().auth_method == "oauth"
        sync.sync_calendar(only_calendar().id)
    drain()
    with calendar_app.app_context():
        [bot] = bots()
        assert bot.title == "Solo planning" and bot.state == "pending"


def people_with_bots(attendee):
    """Ada (member) with a running meeting whose bot failed and an upcoming one; Bob's bot; an admin."""
    ada = user("ada@acme.test")
    bob = user("bob@acme.test")
    root = user("root@acme.test")
    db.session.get(User, root).role = "admin"
    db.session.commit()
    ada_cal, bob_cal = calendar(ada, "ada@acme.test"), calendar(bob, "bob@acme.test")
    upcoming = event(ada_cal, "Ada's upcoming review", at(-24, 30), minutes=30)
    running = event(ada_cal, "Ada's running call", at(-24, -10), minutes=60)
    bobs = event(bob_cal, "Bob's standup", at(-24, 40), minutes=15, url="https://zoom.us/j/81234567890")
    sync_changed(upcoming, running, bobs, now=at(-24))
    attendee.clock = at(-24)
    attendee.down = True
    dispatcher.tick(now=at(-24))
    attendee.down = False
    tick(attendee, at(-24))
    return ada, bob, upcoming, running, bobs


def test_the_bots_page_shows_own_bots_in_words_with_filters_and_a_timeline(bot_app, attendee, client):
    with bot_app.app_context():
        ada, bob, upcoming, running, bobs = people_with_bots(attendee)
        ada_bots = {b.title: b.id for b in bots() if b.owner_id == ada}
        bob_bot = next(b.id for b in bots() if b.owner_id == bob)
    login(client, "ada@acme.test")
    page = client.get("/bots/").get_data(as_text=True)
    assert "Ada&#39;s upcoming review" in page and "Ada&#39;s running call" in page and "Bob" not in page
    assert "waiting to join" in page and "joining" in page  # states in words
    assert client.get(f"/bots/{bob_bot}/").status_code == 404  # members see their own bots only
    assert client.post(f"/bots/{bob_bot}/cancel", data={"csrf_token": csrf_from(page)}).status_code == 404
    only_waiting = client.get("/bots/?state=scheduled").get_data(as_text=True)
    assert "Ada&#39;s upcoming review" in only_waiting and "Ada&#39;s running call" not in only_waiting
    assert "No bots match." in client.get(f"/bots/?day={at(24):%Y-%m-%d}").get_data(as_text=True)
    for bad in ("state=asleep", "day=tomorrow", "calendar=x"):
        response = client.get(f"/bots/?{bad}")
        assert response.status_code == 400 and 'role="alert"' in response.get_data(as_text=True)
    partial = client.get("/bots/?state=joining", headers={"HX-Request": "true", "HX-Target": "bots-table"})
    assert partial.get_data(as_text=True).startswith('<div id="bots-table"')

    detail = client.get(f"/bots/{ada_bots['Ada' + chr(39) + 's running call']}/").get_data(as_text=True)
    timeline = detail[detail.index('id="timeline"'):]
    rows = re.findall(r"<tr>\s*<td class=\"nowrap\">([^<]+)</td>.*?data-source>([^<]+)</td>\s*<td class=\"why small\">([^<]*)</td>",
                      timeline, re.S)
    assert [(source, reason[:30]) for _, source, reason in rows][::-1] == [
        ("CallVault", "meeting found in ada@acme.test"), ("CallVault", "sent to join now: the meeting ")]


def test_send_now_cancel_and_fetch_again_from_the_page(bot_app, attendee, client, drain):
    with bot_app.app_context():
        ada, bob, upcoming, running, bobs = people_with_bots(attendee)
        by_title = {b.title: (b.id, b.attendee_id) for b in bots()}
        (running_id, remote), (upcoming_id, upcoming_remote) = by_title["Ada's running call"], by_title[
            "Ada's upcoming review"]
        attendee.set_state(remote, "fatal_error", "could_not_join", deliver=False)
        tick(attendee, at(-24, 2))  # polled: failed (the dispatcher's next pass would send another)
        assert db.session.get(Bot, running_id).state == "fatal_error"
    login(client, "ada@acme.test")
    page = client.get(f"/bots/{running_id}/").get_data(as_text=True)
    assert "Send a bot now" in page
    attendee.clock = at(-24, 4)
    sent = client.post(f"/bots/{running_id}/send-now", data={"csrf_token": csrf_from(page)},
                       follow_redirects=True)
    assert "A bot is on its way" in sent.get_data(as_text=True)
    drain()  # the dispatch the action asked for
    with bot_app.app_context():
        bot = db.session.get(Bot, running_id)
        assert bot.state == "joining" and bot.send_now_at is None
        assert any("asked for a bot in the meeting now" in t.reason for t in bot.transitions)

    # Cancel: confirmed on its own page first; the GET changes nothing.
    confirm = client.get(f"/bots/{upcoming_id}/cancel")
    assert "Cancel this bot?" in confirm.get_data(as_text=True)
    with bot_app.app_context():
        assert db.session.get(Bot, upcoming_id).state == "scheduled"
    done = client.post(f"/bots/{upcoming_id}/cancel", data={"csrf_token": csrf_from(confirm.get_data(as_text=True))},
                       follow_redirects=True)
    assert "Cancelled: no bot will record this meeting" in done.get_data(as_text=True)
    with bot_app.app_context():
        assert db.session.get(Bot, upcoming_id).state == "cancelled"
        assert BotEventChoice.query.filter_by(event_id=upcoming).one().choice == "skip"
        sync_changed(upcoming, now=at(-24, 5))  # the next sync does not bring it back
        assert [b.state for b in bots() if b.event_id == upcoming] == ["cancelled"]
        tick(attendee, at(-24, 5))
        assert attendee.count("DELETE", f"/api/v1/bots/{upcoming_remote}", status=200) == 1

    # An ended bot whose transcript never arrived: listed as a failure, fetched again on request.
    with bot_app.app_context():
        bot = db.session.get(Bot, running_id)
        bot_id, remote = bot.id, bot.attendee_id
        attendee.set_state(remote, "ended", "post_processing_completed", deliver=False)
        attendee.fail_next(100, status=502, path_prefix=f"/api/v1/bots/{remote}/transcript")
        tick(attendee, at(-24, 10))  # polled: ended; its transcript fetch fails
        drain()
        bot = db.session.get(Bot, bot_id)
        assert bot.state == "ended" and bot.call_id is None and "502" in bot.transcript_error
        bot.transcript_attempts = dispatcher.MAX_TRANSCRIPT_ATTEMPTS  # every retry used up
        db.session.commit()
        [lost] = [f for f in figures.missed_bots(at(-48), now=at(-24, 11)) if f.title.startswith("Transcript never")]
        assert lost.action.label == "Fetch the transcript again" and lost.action.command == f"flask bots retry-transcript {bot_id}"
    page = client.get(f"/bots/{bot_id}/").get_data(as_text=True)
    assert "The transcript never arrived after 8 tries" in page
    attendee._faults.clear()
    again = client.post(f"/bots/{bot_id}/transcript", data={"csrf_token": csrf_from(page)}, follow_redirects=True)
    assert "Fetching the transcript again" in again.get_data(as_text=True)
    drain()
    with bot_app.app_context():
        assert db.session.get(Bot, bot_id).call_id is not None


def test_the_dashboard_bots_card_shows_real_figures(bot_app, attendee, client):
    with bot_app.app_context():
        people_with_bots(attendee)
    login(client, "root@acme.test")
    page = client.get("/dashboard/").get_data(as_text=True)
    card = page[page.index('id="bots-card"'):]
    card = card[:card.index("</section>")]
    assert "not set up yet" not in card
    assert re.search(r'data-figure="bots-total">3<', card)
    assert "waiting to join" in card and "joining" in card and 'href="/bots/"' in card
