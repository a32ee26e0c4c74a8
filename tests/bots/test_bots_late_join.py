"""Late join: a meeting that is still running and has no working bot gets one sent now — added to
the calendar after it started, bot creation failed while the service was down, a service bot that
never joined or failed — by the dispatcher, by "Send a bot now" and by `flask bots send`. "Missed"
means only that the meeting ended with no bot."""
from datetime import timedelta

import pytest

from callvault.bots import dispatcher
from callvault.dashboard import figures
from callvault.models import BotEventChoice, Call
from tests.support.bots import at, bots, calendar, event, sync_changed, user


def run(attendee, now):
    attendee.clock = now
    attendee.advance(launch=True)
    return dispatcher.tick(now=now)


def ada_calendar():
    return calendar(user("ada@acme.test"), "ada@acme.test")


@pytest.mark.parametrize("minutes_late", [5, 20])
def test_a_meeting_added_after_it_started_gets_a_bot_at_once(bot_app, attendee, minutes_late):
    with bot_app.app_context():
        added_at = at(2, minutes_late)
        meeting = event(ada_calendar(), "Started without us", at(2), minutes=45)
        sync_changed(meeting, now=added_at)
        assert run(attendee, added_at) == {"sent_late": 1}
        [bot] = bots()
        [sent] = attendee.requests_to("POST", "/api/v1/bots")
        assert "join_at" not in sent["json"]  # joins at once
        assert bot.state == "joining" and attendee.bots[bot.attendee_id]["state"] == "joining"
        assert bot.transitions[-1].reason == "sent to join now: the meeting started at " \
            f"{at(2):%H:%M} UTC and is still running"


def test_a_meeting_added_after_it_ended_gets_no_bot(bot_app, attendee):
    with bot_app.app_context():
        meeting = event(ada_calendar(), "Over", at(2), minutes=30)
        sync_changed(meeting, now=at(2, 31))
        assert bots() == []


def test_the_service_down_until_ten_minutes_into_the_meeting_still_records_it(bot_app, attendee, drain):
    with bot_app.app_context():
        meeting = event(ada_calendar(), "Outage", at(2), minutes=45)
        sync_changed(meeting, now=at(1, 40))
        attendee.down = True
        moment = at(1, 40)
        while moment < at(2, 10):  # down from before join time until 2:10
            counts = run(attendee, moment)
            assert counts.get("service_unavailable") == 1
            moment += timedelta(minutes=1)
        [bot] = bots()
        assert bot.state == "pending" and "503" in bot.last_error  # waiting, not missed
        attendee.down = False
        assert run(attendee, at(2, 10)) == {"sent_late": 1}
        [bot] = bots()
        remote = bot.attendee_id
        assert bot.state == "joining" and attendee.bots[remote]["join_at"] is None
        attendee.add_utterance(remote, "Ada", "Sorry, we started without the notetaker.",
                               int(at(2, 11).timestamp() * 1000))
        attendee.set_state(remote, "joined_recording", "bot_joined", deliver=False)
        attendee.clock = at(2, 45)
        attendee.set_state(remote, "ended", "post_processing_completed", deliver=False)
        run(attendee, at(2, 46))  # polled: ended
        drain()
        [bot] = bots()
        assert bot.state == "ended" and bot.call_id is not None and Call.query.count() == 1


def test_a_meeting_ending_before_any_bot_could_join_is_missed_with_why(bot_app, attendee):
    with bot_app.app_context():
        meeting = event(ada_calendar(), "Short and unlucky", at(2), minutes=20)
        sync_changed(meeting, now=at(1, 30))
        attendee.down = True
        for minute in range(0, 55, 5):  # until 2:20, when it ends
            run(attendee, at(1, 30) + timedelta(minutes=minute))
        [bot] = bots()
        assert bot.state == "missed" and bot.state_changed_at == at(2, 20)
        assert bot.state_reason.startswith(f"the meeting ended ({at(2, 20):%Y-%m-%d %H:%M} UTC) before a bot could join: "
                                           "the bot service never took a bot (last error: the bot service answered 503")
        [failure] = figures.missed_bots(at(-1), now=at(2, 25))
        assert failure.detail == bot.state_reason
        # The meeting is over: the action says what fixes it next time, not a command that cannot.
        assert failure.action.command is None and failure.action.label == "See why on the Bots page"


def test_a_service_bot_that_never_joins_is_replaced_by_one_joining_now(bot_app, attendee):
    with bot_app.app_context():
        meeting = event(ada_calendar(), "Skipped by the scheduler", at(2), minutes=30)
        sync_changed(meeting, now=at(1))
        run(attendee, at(1, 30))
        first = bots()[0].attendee_id
        for minute in (56, 58, 60, 62):  # the service stages it but never launches it
            attendee.clock = at(1, minute)
            attendee.advance()
            dispatcher.tick(now=at(1, minute))
        assert bots()[0].attendee_id == first
        dispatcher.tick(now=at(2, 3))  # BOT_GRACE_MINUTES (3) after the start, still staged: replaced
        [bot] = bots()
        assert bot.attendee_id != first and bot.state == "joining" and bot.generation == 2
        assert "was still staged 3 minutes after the meeting started; a new bot replaces it" in \
            bot.transitions[-2].reason
        [departure] = bot.departures
        assert departure.attendee_id == first and departure.outcome is None  # staged: it leaves once it can


def test_a_service_bot_that_failed_while_the_meeting_runs_is_followed_by_another(bot_app, attendee):
    with bot_app.app_context():
        meeting = event(ada_calendar(), "Could not join", at(2), minutes=30)
        sync_changed(meeting, now=at(1))
        run(attendee, at(1, 30))
        run(attendee, at(2))
        first = bots()[0].attendee_id
        attendee.clock = at(2, 1)
        attendee.set_state(first, "fatal_error", "could_not_join", deliver=False)
        run(attendee, at(2, 4))  # polled: failed
        assert bots()[0].state == "fatal_error"
        assert run(attendee, at(2, 5)) == {"sent_late": 1, "departure_ended": 1}
        [bot] = bots()
        assert bot.state == "joining" and bot.attendee_id != first


def test_a_bot_failing_as_the_service_goes_down_until_the_end_is_missed_with_why(bot_app, attendee):
    with bot_app.app_context():
        meeting = event(ada_calendar(), "Failed, then an outage", at(2), minutes=15)
        sync_changed(meeting, now=at(1))
        run(attendee, at(1, 30))
        run(attendee, at(2))
        first = bots()[0].attendee_id
        attendee.clock = at(2, 1)
        attendee.set_state(first, "fatal_error", "could_not_join", deliver=False)
        attendee.down = True  # from the failure until after the meeting: nobody can ask or send
        for minute in range(2, 30, 3):
            run(attendee, at(2, minute))
        assert bots()[0].state == "joining"  # not known to have failed yet
        attendee.down = False
        run(attendee, at(2, 30))  # polled: it failed, and the meeting is over
        run(attendee, at(2, 31))
        [bot] = bots()
        assert bot.state == "missed"
        assert bot.state_reason == (f"the meeting ended ({at(2, 15):%Y-%m-%d %H:%M} UTC) before a bot could join: "
                                    f"service bot {first} failed (fatal_error) and no other bot could be sent "
                                    f"(last error: {bot.last_error})")


def test_flask_bots_send_sends_a_bot_now_or_says_why_not(bot_app, attendee, runner):
    with bot_app.app_context():
        bob_cal = calendar(user("bob@acme.test", auto_record="none"), "bob@acme.test")
        # The command runs on the real clock: NOW is a day ahead of it.
        running = event(bob_cal, "Bob's running meeting", at(-24, -10), minutes=60)  # started 10 minutes ago
        over = event(bob_cal, "Bob's old meeting", at(-27), minutes=30)
        no_link = event(bob_cal, "Bob's call without a link", at(-24, -5), url=None)
        sync_changed(running, over, no_link, now=at(-24))
        assert bots() == []  # Bob records nothing by himself
    attendee.clock = at(-24)
    result = runner.invoke(args=["bots", "send", str(running)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with bot_app.app_context():
        [bot] = bots()
        assert result.output.startswith(f"Bot {bot.id} sent to Bob's running meeting: service bot {bot.attendee_id}")
        assert bot.state == "joining" and "join_at" not in attendee.requests_to("POST", "/api/v1/bots")[0]["json"]
        assert BotEventChoice.query.one().choice == "record"  # kept: reconcile does not cancel it
        sync_changed(running, now=at(-24))
        assert bots()[0].state == "joining"
    again = runner.invoke(args=["bots", "send", str(running)])
    assert again.exit_code == 0 and "already in the meeting" in again.output
    for event_id, message in ((over, "ended at"), (no_link, "has no meeting link"), (999999, "no calendar event")):
        failed = runner.invoke(args=["bots", "send", str(event_id)])
        assert failed.exit_code == 1 and failed.output.startswith("Error: ") and message in failed.output
        assert failed.output.count("\n") == 1  # one clear line
