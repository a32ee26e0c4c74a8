"""Bots are never stuck and never silently missed: a bot stuck at the service is given up (a
dashboard failure), a disconnected calendar lets go of its bots at once, and a dry run logs no
state change as if it were made."""
import json

from callvault.bots import dispatcher
from callvault.calendars import sync
from callvault.dashboard import figures
from callvault.extensions import db
from callvault.models import Bot, BotPreference, Calendar, CalendarEvent
from tests.support.bots import MEET, ROOM, at, bots, calendar, event, sync_changed, tick, user
from tests.support.calendars import MEMBER_EMAIL, connect, only_calendar
from tests.support.web import csrf_from


def bots_in_their_meetings(attendee):
    """Three bots at the service for meetings 2:00–2:30 (the third has no known end: 2:00 + 1 hour)."""
    ada = user("ada@acme.test", name="Ada Lovelace")
    cal = calendar(ada, "ada@acme.test")
    ids = [event(cal, "Joining forever", at(2), url=MEET), event(cal, "Processing forever", at(2), url=ROOM),
           event(cal, "Ends at the last poll", at(2), url="https://zoom.us/j/81234567890")]
    sync_changed(*ids)
    tick(attendee, at(1, 30))
    remotes = [b.attendee_id for b in bots()]
    assert [b.state for b in bots()] == ["scheduled"] * 3
    db.session.get(CalendarEvent, ids[2]).end_at = None
    db.session.commit()
    attendee.clock = at(2)
    attendee.set_state(remotes[0], "joining", "join_requested", deliver=False)
    for remote in remotes[1:]:
        for state in ("joining", "joined_recording", "leaving", "post_processing"):
            attendee.set_state(remote, state, state, deliver=False)
    return remotes


def test_a_bot_stuck_at_the_service_is_polled_once_more_then_given_up(bot_app, attendee):
    bot_app.config["BOT_STUCK_AFTER_HOURS"] = 3
    with bot_app.app_context():
        joining, processing, ending = bots_in_their_meetings(attendee)
        tick(attendee, at(2, 45))  # no webhooks arrive: polling finds where they are
        assert [b.state for b in bots()] == ["joining", "post_processing", "post_processing"]
        tick(attendee, at(5, 29))  # 2:30 + 3 hours is not yet past: nothing is given up
        assert [b.state for b in bots()] == ["joining", "post_processing", "post_processing"]
        assert [dispatcher.stuck_after(b) for b in bots()] == [at(5, 30), at(5, 30), at(6)]

        polls = {r: attendee.count("GET", f"/api/v1/bots/{r}", status=200) for r in (joining, processing, ending)}
        assert tick(attendee, at(5, 31)) == {"given_up": 2, "polled": 1, "departure_left": 1}
        # The one still joining at the service is asked to leave; the one processing needs no leave.
        assert attendee.count("POST", f"/api/v1/bots/{joining}/leave", status=200) == 1
        assert attendee.count("POST", f"/api/v1/bots/{processing}/leave") == 0
        assert {r: attendee.count("GET", f"/api/v1/bots/{r}", status=200) - n for r, n in polls.items()} == {
            joining: 2, processing: 1, ending: 1}  # the first two one last time (+ the departure's look), the third as usual
        first, second, third = bots()
        assert (first.state, second.state, third.state) == ("fatal_error", "fatal_error", "post_processing")
        assert first.state_reason == (
            f"stuck: still joining 3 hours after its meeting should have ended ({at(2, 30):%Y-%m-%d %H:%M} UTC); "
            f"the bot service still reports it joining (service bot {joining}); given up")
        assert second.state_reason.startswith("stuck: still post_processing 3 hours after")
        assert first.transitions[-1].from_state == "joining" and first.state_changed_at == at(5, 31)

        # On the dashboard's failures, marked failed and pointing at the bot list.
        found = figures.missed_bots(at(-24), now=at(6))
        assert [f.title.split(" at ")[0] for f in found] == ["Failed: Processing forever", "Failed: Joining forever"]
        assert found[1].detail == first.state_reason and found[1].action.label == "See why on the Bots page"
        assert figures.failures(days=2, now=at(6))["counts"]["missed_bot"] == 2

        # The third (no known end) ends just before its own last poll: polled, ended, not given up.
        attendee.set_state(ending, "ended", "post_processing_completed", deliver=False)
        polls = attendee.count("GET", f"/api/v1/bots/{joining}")
        assert tick(attendee, at(6, 1)) == {"polled": 1}
        assert attendee.count("GET", f"/api/v1/bots/{joining}") == polls  # given up: not asked again
        first, second, third = bots()
        assert [b.state for b in bots()] == ["fatal_error", "fatal_error", "ended"]
        assert third.transitions[-1].reason == "polled: its meeting should be over"


def test_a_stuck_bot_is_given_up_even_when_the_service_cannot_be_asked(bot_app, attendee):
    with bot_app.app_context():
        joining, _, ending = bots_in_their_meetings(attendee)
        tick(attendee, at(2, 45))
        attendee.fail_next(3, status=503, path_prefix=f"/api/v1/bots/{joining}")
        counts = tick(attendee, at(9))  # a tick whose first poll finds the service down asks no more
        assert counts == {"given_up": 3}
        first, second, third = bots()
        assert "the bot service could not be asked (AttendeeUnavailable)" in first.state_reason
        assert "503" in first.last_error
        assert "could not be asked" in second.state_reason and "could not be asked" in third.state_reason
        # fatal_error is not final for the service's word: a late "ended" still brings the transcript.
        from callvault.bots.lifecycle import observe
        assert observe(third, "ended", "webhook: post_processing_completed") and third.state == "ended"


def a_calendar_with_a_bot(calendar_app, attendee, google, client, auth, drain):
    """The member's Google calendar, synced, with a bot scheduled at the service for an upcoming meeting."""
    google.add_user(MEMBER_EMAIL)
    guests = [{"email": MEMBER_EMAIL, "responseStatus": "accepted"}, {"email": "guest@client.test"}]
    google.add_event(MEMBER_EMAIL, "Demo", at(2), at(2, 1), hangoutLink=MEET, attendees=guests)
    auth.login(MEMBER_EMAIL)
    connect(client, "google")
    with calendar_app.app_context():
        db.session.add(BotPreference(user_id=only_calendar().user_id, auto_record="all"))
        db.session.commit()
        sync.sync_calendar(only_calendar().id)
    drain()
    with calendar_app.app_context():
        tick(attendee, at(1, 30))
        [bot] = bots()
        assert bot.state == "scheduled" and attendee.live_bots()
        return bot.id


def test_disconnecting_a_calendar_in_settings_cancels_its_bots_at_once(calendar_app, bot_app, attendee, google,
                                                                      client, auth, member, drain):
    a_calendar_with_a_bot(calendar_app, attendee, google, client, auth, drain)
    with calendar_app.app_context():
        calendar_id = only_calendar().id
    page = client.get("/settings/").get_data(as_text=True)
    answer = client.post(f"/calendars/{calendar_id}/disconnect", data={"csrf_token": csrf_from(page)})
    assert answer.status_code == 302
    with calendar_app.app_context():
        assert [b.state for b in bots()] == ["scheduled"]  # the reconcile is queued, after the commit
    drain()  # the reconcile, then the dispatch it asked for
    with calendar_app.app_context():
        [bot] = bots()
        assert not only_calendar().is_connected
        assert bot.state == "cancelled" and "no calendar still wants this meeting" in bot.state_reason
        assert not attendee.live_bots()  # withdrawn at the service too


def test_a_revoked_grant_cancels_the_calendars_bots_at_once(calendar_app, bot_app, attendee, google, client, auth,
                                                            member, drain):
    a_calendar_with_a_bot(calendar_app, attendee, google, client, auth, drain)
    google.revoke(MEMBER_EMAIL)
    google.expire_access_tokens()
    with calendar_app.app_context():
        assert sync.sync_calendar(only_calendar().id).status == "disconnected"
    drain()
    with calendar_app.app_context():
        [bot] = bots()
        assert "no longer accepts this authorization" in only_calendar().disconnected_reason
        assert bot.state == "cancelled" and not attendee.live_bots()


def test_a_disconnected_calendar_passes_a_shared_meeting_to_another_attendees_copy(bot_app, attendee, drain):
    from callvault.calendars import lifecycle
    with bot_app.app_context():
        ada, bob = user("ada@acme.test"), user("bob@acme.test", auto_record="all")
        mine, theirs = calendar(ada, "ada@acme.test"), calendar(bob, "bob@acme.test")
        sync_changed(event(mine, "Shared", at(2)), event(theirs, "Shared", at(2)))
        [bot] = bots()
        assert bot.event.calendar_id == mine
        lifecycle.disconnect(db.session.get(Calendar, mine))
    drain()
    with bot_app.app_context():
        [bot] = bots()
        assert bot.state == "pending" and bot.event.calendar_id == theirs


def test_a_dry_run_logs_no_state_change(bot_app, attendee, runner, caplog):
    with bot_app.app_context():
        ada = user("ada@acme.test")
        event(calendar(ada, "ada@acme.test"), "Tomorrow", at(2))
    caplog.set_level("INFO", logger="callvault")
    dry = runner.invoke(args=["bots", "ensure", "--days", "3", "--dry-run"])
    assert dry.exit_code == 0 and "would create: Tomorrow at" in dry.output
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "callvault"]
    assert [e for e in logged if e["event"] == "bot_state_changed"] == []
    assert [e for e in logged if e["event"] == "bots_reconciled"] == [
        {"event": "bots_reconciled", "dry_run": True, "created": 1, "moved": 0, "relinked": 0, "cancelled": 0}]
    with bot_app.app_context():
        assert Bot.query.count() == 0

    caplog.clear()
    real = runner.invoke(args=["bots", "ensure", "--days", "3"])
    assert real.exit_code == 0 and "1 to create" in real.output
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "callvault"]
    [changed] = [e for e in logged if e["event"] == "bot_state_changed"]
    assert (changed["from_state"], changed["to_state"]) == (None, "pending") and changed["bot_id"] is not None
