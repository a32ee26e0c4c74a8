"""`flask demo`: the sandbox has a calendar, its meetings and their bots, built as the app builds them."""
from collections import Counter

from sqlalchemy import func, select

from callvault.bots import reconcile
from callvault.demo import DEMO_EMAIL
from callvault.extensions import db
from callvault.models import Bot, BotPreference, BotTransition, Calendar, CalendarEvent, Call, User


def test_demo_has_a_calendar_and_one_bot_per_meeting(app, runner):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "Demo loaded: 40 meetings." in result.output and "recording bots" in result.output
    with app.app_context():
        user = User.query.filter_by(email=DEMO_EMAIL).one()
        calendar = Calendar.query.filter_by(deduplication_key=f"{DEMO_EMAIL}-google-oauth").one()
        assert (calendar.user_id, calendar.provider, calendar.auth_method, calendar.is_connected,
                calendar.credential_id) == (user.id, "google", "oauth", True, None)
        assert BotPreference.query.filter_by(user_id=user.id).one().auto_record == "all"

        events = CalendarEvent.query.filter_by(calendar_id=calendar.id).all()
        assert 12 <= len(events) <= 16
        assert {e.meeting_platform for e in events} >= {"google_meet", "zoom", "teams"}
        assert any(e.is_cancelled for e in events)
        assert any(a["email"] == DEMO_EMAIL and a["response"] == "declined" for e in events for a in e.attendees)
        assert any(a["email"].endswith(".example") for e in events for a in e.attendees)
        days = {e.start_at.date() for e in events}
        assert len(days) >= 5

        bots = Bot.query.all()
        # One bot per meeting that wants one (URL + start), however many events it is on.
        meetings = Counter((e.meeting_url, e.start_at) for e in events if e.meeting_url)
        assert max(meetings.values()) == 2
        live = [b for b in bots if b.state != "cancelled"]
        assert len({b.meeting_key for b in live}) == len(live)
        wanted = {(e.meeting_url, e.start_at) for e in events if reconcile.wants_bot(e)}
        assert {(b.meeting_url, b.join_at) for b in live} == wanted
        for bot in live:
            assert bot.meeting_key == reconcile.meeting_key(bot.meeting_url, bot.join_at)
            assert bot.owner_id == user.id and bot.event.calendar_id == calendar.id

        states = Counter(b.state for b in bots)
        assert states["ended"] >= 1 and states["missed"] == 1 and states["cancelled"] == 1
        assert states["pending"] + states["scheduled"] >= 3
        for bot in bots:
            if bot.state == "ended":
                call = db.session.get(Call, bot.call_id)
                assert call.source == "bot" and call.external_id == bot.attendee_id
                assert call.segments.count() > 5 and call.participants
        missed = next(b for b in bots if b.state == "missed")
        assert "before a bot could join" in missed.state_reason
        cancelled = next(b for b in bots if b.state == "cancelled")
        assert cancelled.meeting_key is None and cancelled.event.is_cancelled

        # Every state came through lifecycle.change_state: a chain of transitions ending in it.
        for bot in bots:
            steps = db.session.scalars(select(BotTransition).where(BotTransition.bot_id == bot.id)
                                       .order_by(BotTransition.id)).all()
            assert steps[0].from_state is None and steps[0].to_state == "pending"
            assert all(a.to_state == b.from_state and a.at <= b.at for a, b in zip(steps, steps[1:]))
            assert steps[-1].to_state == bot.state and steps[-1].reason == bot.state_reason
            assert steps[-1].at == bot.state_changed_at
        assert db.session.scalar(select(func.count()).select_from(Call).where(Call.source == "fathom")) == 40
