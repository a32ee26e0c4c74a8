"""A meeting moved or cancelled in every state of its bot, against the fake bot service, which
refuses exactly as Attendee does: PATCH/DELETE only while `scheduled`, `/leave` only from
`joining` on, `staged` 5 minutes before join_at. Whatever the state, the meeting ends up with
exactly one bot at its new time (none if cancelled) and no other service bot stays in a meeting."""
from datetime import timedelta

import pytest

from callvault.bots import dispatcher
from callvault.models import BotDeparture
from tests.support.bots import at, bots, calendar, change, event, sync_changed, user

IN_MEETING_STATES = ("joining", "waiting_room", "joined_not_recording", "joined_recording", "joined_recording_paused")
STATES = ("pending", "scheduled", "staged") + IN_MEETING_STATES
# When each state is reached, for a meeting 2:00–2:30 whose bot goes to the service at 1:00 (lead 60 minutes).
REACHED_AT = {"pending": at(0, 30), "scheduled": at(1, 30), "staged": at(1, 56)} | {s: at(2, 5) for s in IN_MEETING_STATES}


def run(attendee, now):
    """A minute of the world: the service's scheduler stages and launches due bots, then the dispatcher ticks."""
    attendee.clock = now
    attendee.advance(launch=True)
    return dispatcher.tick(now=now)


def meeting_with_its_bot_in(attendee, state):
    """Ada's meeting 2:00–2:30 with its bot in `state` (at the service, no webhook delivered)."""
    ada = user("ada@acme.test")
    meeting = event(calendar(ada, "ada@acme.test"), "Weekly", at(2), minutes=30)
    sync_changed(meeting, now=at(0, 20))
    for moment in (at(1, 30), at(1, 56), at(2), at(2, 1)):
        if moment > REACHED_AT[state]:
            break
        run(attendee, moment)
    if state in IN_MEETING_STATES[1:]:
        remote = bots()[0].attendee_id
        attendee.set_state(remote, state, state, deliver=False)
    if state != "pending":
        remote = bots()[0].attendee_id
        assert attendee.bots[remote]["state"] == state
    return meeting


def service_bots_in_a_meeting(attendee):
    """Service bots that are (or will be) in a meeting: not ended, not leaving."""
    done = {"leaving", "post_processing", "ended", "fatal_error", "data_deleted"}
    return [b for b in attendee.bots.values() if b["state"] not in done]


@pytest.mark.parametrize("state", STATES)
def test_a_cancel_in_every_bot_state_leaves_no_bot_in_the_meeting(bot_app, attendee, state):
    with bot_app.app_context():
        meeting = meeting_with_its_bot_in(attendee, state)
        moment = REACHED_AT[state]
        change(meeting, is_cancelled=True)
        sync_changed(meeting, now=moment)
        assert bots()[0].state == "cancelled"
        for minute in range(0, 8):  # the next minutes: the service launches a staged bot at 2:00
            run(attendee, moment + timedelta(minutes=minute))
        assert service_bots_in_a_meeting(attendee) == []
        [bot] = bots()
        assert bot.state == "cancelled" and bot.attendee_id is None
        if state == "pending":
            assert attendee.bots == {} and bot.departures == []
        else:
            [departure] = bot.departures
            expected = {"scheduled": "deleted", "staged": "left"}.get(state, "left")
            assert departure.outcome == expected and departure.done_at is not None
        # The service refused nothing it would refuse: no leave of a staged bot, no DELETE after scheduled.
        assert attendee.count("POST", status=400) == attendee.count("DELETE", status=400) == 0
        assert attendee.count("PATCH") == 0


@pytest.mark.parametrize("state", STATES)
def test_a_move_in_every_bot_state_gives_one_bot_at_the_new_time(bot_app, attendee, state):
    with bot_app.app_context():
        meeting = meeting_with_its_bot_in(attendee, state)
        moment = REACHED_AT[state]
        first = bots()[0].attendee_id
        change(meeting, start_at=at(3), end_at=at(3, 30))
        sync_changed(meeting, now=moment)
        run(attendee, moment)
        [bot] = bots()
        if state == "pending":
            assert bot.attendee_id is None  # not due yet: it goes to the service an hour ahead of 3:00
        else:
            # At once: the new service bot exists for 3:00 as soon as the dispatcher runs.
            assert bot.attendee_id and attendee.bots[bot.attendee_id]["join_at"] == at(3).isoformat().replace(
                "+00:00", "Z")
            if state == "scheduled":
                assert bot.attendee_id == first and attendee.count("PATCH", status=200) == 1  # rescheduled in place
            else:
                assert bot.attendee_id != first and bot.generation == 2
        for minute in range(1, 10):
            run(attendee, moment + timedelta(minutes=minute))
        run(attendee, max(moment + timedelta(minutes=10), at(2, 10)))
        live = service_bots_in_a_meeting(attendee)
        # Exactly one service bot will be in a meeting: the one for 3:00.
        assert [b["join_at"] for b in live] == [at(3).isoformat().replace("+00:00", "Z")]
        [bot] = bots()
        assert bot.join_at == at(3) and bot.state in ("scheduled", "pending")
        if state not in ("pending", "scheduled"):
            assert attendee.bots[first]["state"] == "leaving"
            assert [(d.attendee_id, d.outcome) for d in bot.departures] == [(first, "left")]
        assert attendee.count("POST", status=400) == attendee.count("DELETE", status=400) == 0


def test_a_staged_bot_is_left_alone_until_the_service_lets_it_leave(bot_app, attendee):
    """The staged window: nothing can stop the bot, so its departure waits (no refused calls) and asks it
    to leave the minute it is joining."""
    with bot_app.app_context():
        meeting = meeting_with_its_bot_in(attendee, "staged")
        remote = bots()[0].attendee_id
        change(meeting, is_cancelled=True)
        sync_changed(meeting, now=at(1, 56))
        run(attendee, at(1, 56))
        run(attendee, at(1, 58))
        [departure] = BotDeparture.query.all()
        assert (departure.outcome, departure.remote_state, attendee.bots[remote]["state"]) == (None, "staged", "staged")
        assert attendee.count("POST", f"/api/v1/bots/{remote}/leave") == 0
        run(attendee, at(2))  # launched: joining, and at once asked to leave
        assert attendee.bots[remote]["state"] == "leaving"
        assert attendee.count("POST", f"/api/v1/bots/{remote}/leave", status=200) == 1


def test_the_fake_refuses_like_attendee_in_each_state(bot_app, attendee):
    from callvault.bots.client import AttendeeRefused
    from callvault.bots.service import client_from_config
    with bot_app.app_context(), client_from_config() as client:
        remote, _ = client.create_bot({"meeting_url": "https://zoom.us/j/1", "bot_name": "n",
                                       "join_at": at(2).isoformat()})
        bot_id = remote["id"]
        with pytest.raises(AttendeeRefused, match="can only leave once it is joining"):
            client.leave(bot_id)  # scheduled: leave refused, PATCH and DELETE allowed
        client.reschedule(bot_id, join_at=at(2, 1))
        attendee.clock = at(1, 57)
        attendee.advance()
        for call in (lambda: client.leave(bot_id), lambda: client.delete_bot(bot_id),
                     lambda: client.reschedule(bot_id, join_at=at(2, 2))):
            with pytest.raises(AttendeeRefused) as refused:
                call()
            assert refused.value.status == 400
        attendee.clock = at(2, 1)
        attendee.advance(launch=True)
        assert attendee.bots[bot_id]["state"] == "joining"
        with pytest.raises(AttendeeRefused):
            client.delete_bot(bot_id)
        assert client.leave(bot_id)["state"] == "leaving"
        with pytest.raises(AttendeeRefused):
            client.leave(bot_id)  # leaving already
        now_bot, _ = client.create_bot({"meeting_url": "https://zoom.us/j/2", "bot_name": "n"})
        assert now_bot["state"] == "joining" and now_bot["join_at"] is None  # no join_at: joins at once
