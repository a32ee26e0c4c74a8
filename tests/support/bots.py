"""Helpers for the bot tests: the test clock, users and calendar events stored the way a calendar
sync stores them (with helpers to change them the same way), and dispatcher ticks.

The fixtures (`attendee`, a fake Attendee on loopback, and `bot_app`) are in tests/fixtures/bots.py.
"""
from datetime import datetime, timedelta, timezone

from callvault.accounts import create_user
from callvault.bots import dispatcher, reconcile
from callvault.extensions import db
from callvault.models import Bot, BotPreference, Calendar, CalendarEvent

API_KEY = "attendee-test-key"
ROOM = "https://acme.zoom.us/my/ada.room"  # a personal meeting room: several meetings a day
MEET = "https://meet.google.com/abc-defg-hij"
# Whole minutes, so stored and compared times are equal on every backend.
NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(days=1)


def at(hours: float = 0, minutes: float = 0) -> datetime:
    return NOW + timedelta(hours=hours, minutes=minutes)


def user(email: str, name: str | None = None, auto_record: str | None = None) -> int:
    account = create_user(email, "correct horse battery", name=name)
    if auto_record:
        db.session.add(BotPreference(user_id=account.id, auto_record=auto_record))
        db.session.commit()
    return account.id


def calendar(user_id: int, email: str, provider: str = "google", auth_method: str = "oauth") -> int:
    row = Calendar(user_id=user_id, provider=provider, auth_method=auth_method, account_email=email,
                   deduplication_key=f"{email}-{provider}-{auth_method}")
    db.session.add(row)
    db.session.commit()
    return row.id


def event(calendar_id: int, title: str, start: datetime, url: str | None = MEET, attendees=None,
          minutes: int = 30, **fields) -> int:
    attendees = attendees if attendees is not None else [
        {"email": "ada@acme.test", "name": "Ada", "response": "accepted"},
        {"email": "bob@acme.test", "name": "Bob", "response": "accepted"},
        {"email": "carol@client.test", "name": "Carol", "response": "needs_action"}]
    row = CalendarEvent(calendar_id=calendar_id, provider_event_id=f"{title}-{start.isoformat()}-{calendar_id}",
                        title=title, start_at=start, end_at=start + timedelta(minutes=minutes), meeting_url=url,
                        attendees=attendees, organizer_email=attendees[0]["email"] if attendees else None, **fields)
    db.session.add(row)
    db.session.commit()
    return row.id


def change(event_id: int, **fields) -> None:
    """Change an event as a sync would (the test then reconciles, as the sync's listener asks)."""
    row = db.session.get(CalendarEvent, event_id)
    for name, value in fields.items():
        setattr(row, name, value)
    db.session.commit()


def sync_changed(*event_ids, now=NOW):
    """What the calendar-sync listener's queued job does."""
    return reconcile.reconcile_events(event_ids, now=now)


def tick(attendee, now: datetime, stage: bool = True):
    """One dispatcher pass at `now`, with the fake's clock at the same moment (and, unless told
    otherwise, its scheduler having staged the bots due within 5 minutes)."""
    attendee.clock = now
    if stage:
        attendee.advance()
    return dispatcher.tick(now=now)


def sent_meeting(attendee, title: str, start: datetime | None = None, name: str | None = None) -> tuple[int, Bot]:
    """Ada's meeting at `start` (2 hours from NOW unless told), its bot sent to the service by a
    tick at 1:30: the event's id and the bot."""
    ada = user("ada@acme.test", name=name)
    meeting = event(calendar(ada, "ada@acme.test"), title, start or at(2))
    sync_changed(meeting)
    tick(attendee, at(1, 30))
    [bot] = bots()
    return meeting, bot


def bots() -> list[Bot]:
    db.session.expire_all()
    return Bot.query.order_by(Bot.id).all()


def states(bot: Bot) -> list[tuple]:
    return [(t.from_state, t.to_state) for t in bot.transitions]
