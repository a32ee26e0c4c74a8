"""One bot per meeting: which events get bots, copies in several calendars, moves, links, deletions."""
from datetime import timedelta

from callvault.extensions import db
from tests.support.bots import (MEET, NOW, ROOM, at, bots, calendar, change, event, sent_meeting, states, sync_changed,
                                tick, user)


def test_two_users_copies_of_one_meeting_get_one_bot(bot_app, attendee):
    with bot_app.app_context():
        ada, bob = user("ada@acme.test"), user("bob@acme.test", auto_record="all")
        ada_copy = event(calendar(ada, "ada@acme.test"), "Planning", at(2))
        bob_copy = event(calendar(bob, "bob@acme.test"), "Planning", at(2))
        sync_changed(ada_copy)
        sync_changed(bob_copy)
        [bot] = bots()
        assert (bot.state, bot.event_id, bot.join_at, bot.meeting_url) == ("pending", ada_copy, at(2), MEET)
        assert states(bot) == [(None, "pending")]

        tick(attendee, at(1, 30))  # within the lead time: it goes to the service once
        [bot] = bots()
        assert bot.state == "scheduled" and bot.attendee_id and attendee.count("POST", "/api/v1/bots") == 1
        [sent] = attendee.requests_to("POST", "/api/v1/bots")
        assert sent["json"]["join_at"] == at(2).isoformat().replace("+00:00", "Z")
        assert sent["json"]["deduplication_key"] == f"callvault-bot-{bot.id}-1"
        assert sent["json"]["metadata"] == {"callvault_bot_id": str(bot.id), "generation": "1"}
        assert "webhooks" not in sent["json"]  # PUBLIC_BASE_URL is http: the project-level webhook serves
        tick(attendee, at(1, 31))
        assert attendee.count("POST", "/api/v1/bots") == 1 and len(attendee.live_bots()) == 1


def test_two_meetings_in_one_room_on_one_day_get_two_bots(bot_app, attendee):
    with bot_app.app_context():
        ada = user("ada@acme.test")
        cal = calendar(ada, "ada@acme.test")
        morning, afternoon = event(cal, "Morning", at(2), url=ROOM), event(cal, "Afternoon", at(6), url=ROOM)
        sync_changed(morning, afternoon)
        assert [(b.event_id, b.join_at) for b in bots()] == [(morning, at(2)), (afternoon, at(6))]
        bot_app.config["BOT_LEAD_MINUTES"] = 24 * 60
        tick(attendee, at(1, 30))
        assert len(attendee.live_bots()) == 2
        assert {b["join_at"] for b in attendee.live_bots()} == {at(2).isoformat().replace("+00:00", "Z"),
                                                                at(6).isoformat().replace("+00:00", "Z")}


def test_which_events_get_bots(bot_app, attendee):
    with bot_app.app_context():
        ada = user("ada@acme.test")  # no choice made: every meeting with a link is recorded
        bob = user("bob@acme.test", auto_record="none")
        eve = user("eve@acme.test", auto_record="external")
        ada_cal, bob_cal, eve_cal = (calendar(u, e) for u, e in ((ada, "ada@acme.test"), (bob, "bob@acme.test"),
                                                                 (eve, "eve@acme.test")))
        inside = [{"email": "eve@acme.test", "response": "accepted"},
                  {"email": "bob@acme.test", "response": "accepted"}]
        wanted = {
            event(ada_cal, "Pilot meeting", at(2)): True,
            event(ada_cal, "Declined", at(3), attendees=[{"email": "ada@acme.test", "response": "declined"},
                                                           {"email": "bob@acme.test", "response": "accepted"}]): False,
            event(ada_cal, "Alone", at(4), attendees=[{"email": "ada@acme.test", "response": "accepted"}]): True,
            event(ada_cal, "No link", at(5), url=None): False,
            event(ada_cal, "Cancelled", at(6), is_cancelled=True): False,
            event(ada_cal, "All day", at(7), is_all_day=True): False,
            event(bob_cal, "Bob's meeting", at(8)): False,
            event(eve_cal, "Internal only", at(9), attendees=inside): False,
            event(eve_cal, "With a client", at(10)): True,
        }
        sync_changed(*wanted)
        assert {b.event_id for b in bots()} == {e for e, want in wanted.items() if want}


def test_a_moved_event_reschedules_its_bot_and_a_new_link_is_followed(bot_app, attendee):
    with bot_app.app_context():
        meeting, bot = sent_meeting(attendee, "Review")
        remote = bot.attendee_id

        change(meeting, start_at=at(3), end_at=at(3, 30))
        sync_changed(meeting)
        tick(attendee, at(1, 31))
        [bot] = bots()
        assert (bot.join_at, bot.attendee_id, bot.state) == (at(3), remote, "scheduled")
        assert attendee.bots[remote]["join_at"] == at(3).isoformat().replace("+00:00", "Z")
        assert [r["json"] for r in attendee.requests_to("PATCH", "/api/v1/bots/")] == [
            {"join_at": at(3).isoformat().replace("+00:00", "Z"), "meeting_url": MEET}]

        change(meeting, meeting_url=ROOM)
        sync_changed(meeting)
        tick(attendee, at(1, 32))
        [bot] = bots()
        assert bot.meeting_url == ROOM and attendee.bots[remote]["meeting_url"] == ROOM
        assert attendee.count("POST", "/api/v1/bots") == 1 and attendee.count("PATCH") == 2
        assert [t.to_state for t in bot.transitions] == ["pending", "scheduled", "pending", "scheduled", "pending",
                                                         "scheduled"]
        assert "moved" in bot.transitions[2].reason


def test_deleted_event_relinks_to_another_attendees_copy_else_cancels(bot_app, attendee):
    with bot_app.app_context():
        ada, bob = user("ada@acme.test"), user("bob@acme.test", auto_record="all")
        ada_copy = event(calendar(ada, "ada@acme.test"), "Planning", at(2))
        bob_copy = event(calendar(bob, "bob@acme.test"), "Planning", at(2))
        sync_changed(ada_copy, bob_copy)
        tick(attendee, at(1, 30))
        [bot] = bots()
        remote = bot.attendee_id

        change(ada_copy, is_deleted=True, is_cancelled=True)
        plan = sync_changed(ada_copy)
        [bot] = bots()
        assert len(plan.relinked) == 1 and (bot.event_id, bot.owner_id, bot.state) == (bob_copy, bob, "scheduled")
        assert attendee.count("DELETE") == 0

        # Bob declines: nobody wants the meeting any more.
        change(bob_copy, attendees=[{"email": "bob@acme.test", "response": "declined"},
                                    {"email": "carol@client.test", "response": "accepted"}])
        sync_changed(bob_copy)
        [bot] = bots()
        assert bot.state == "cancelled" and bot.meeting_key is None
        assert bot.transitions[-1].reason.startswith("no calendar still wants this meeting")
        tick(attendee, at(1, 31))
        assert attendee.count("DELETE", f"/api/v1/bots/{remote}") == 1 and remote not in attendee.bots
        [bot] = bots()
        assert bot.attendee_id is None and [(d.attendee_id, d.outcome) for d in bot.departures] == [(remote, "deleted")]
        tick(attendee, at(1, 32))
        assert attendee.count("DELETE") == 1


def test_a_missed_bot_follows_its_meeting_from_the_past_into_the_future(bot_app, attendee):
    with bot_app.app_context():
        meeting, _ = sent_meeting(attendee, "Slipped")
        # The service never launches it (the seed's "stuck at scheduled") and is down while the meeting runs.
        attendee.down = True
        tick(attendee, at(2, 11), stage=False)
        attendee.down = False
        tick(attendee, at(2, 31), stage=False)
        [bot] = bots()
        assert bot.state == "missed" and "before a bot could join" in bot.state_reason
        assert "was still scheduled" in bot.state_reason and attendee.count("GET", "/api/v1/bots/", status=200) == 1
        remote = bot.attendee_id

        change(meeting, start_at=at(26), end_at=at(26, 30))  # moved to tomorrow
        sync_changed(meeting, now=at(2, 35))
        [bot] = bots()
        assert bot.state == "pending" and bot.join_at == at(26)
        assert attendee.bots[remote]["state"] == "scheduled"  # stuck, so still patchable
        tick(attendee, at(2, 36), stage=False)  # not within the lead time yet, but it exists: rescheduled now
        [bot] = bots()
        assert (bot.state, bot.attendee_id) == ("scheduled", remote)
        assert attendee.bots[remote]["join_at"] == at(26).isoformat().replace("+00:00", "Z")
        assert [t.to_state for t in bot.transitions][-3:] == ["missed", "pending", "scheduled"]


def test_past_meetings_get_no_new_bots(bot_app, attendee):
    with bot_app.app_context():
        ada = user("ada@acme.test")
        cal = calendar(ada, "ada@acme.test")
        over = event(cal, "Over", NOW - timedelta(hours=1))
        just_started = event(cal, "Just started", NOW - timedelta(minutes=5))
        sync_changed(over, just_started)
        [bot] = bots()
        assert bot.event_id == just_started
        tick(attendee, NOW)
        [sent] = attendee.requests_to("POST", "/api/v1/bots")
        assert "join_at" not in sent["json"]  # due already: it joins now (Attendee refuses a past join_at)
        db.session.expire_all()
        assert bots()[0].state == "joining"
