"""The bots page's data: bots with filters, states in words, each bot's timeline. No Flask here."""
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import BOT_STATES, Bot, Calendar, CalendarEvent, User, utcnow
from . import stats
from .lifecycle import JOINED, PRE_JOIN, meeting_end

PAGE_SIZE = 200
STATE_WORDS = {
    "pending": "waiting to be sent", "scheduled": "waiting to join", "staged": "about to join",
    "joining": "joining", "waiting_room": "in the waiting room", "joined_not_recording": "in the meeting, not recording",
    "joined_recording": "recording", "joined_recording_paused": "recording paused", "leaving": "leaving",
    "post_processing": "processing the recording", "ended": "done", "fatal_error": "failed",
    "cancelled": "cancelled", "missed": "missed",
}
SOURCE_WORDS = {"webhook": "webhook", "poll": "poll", "us": "CallVault", None: "—"}
DEPARTURE_OUTCOME_WORDS = {"deleted": "deleted", "left": "asked to leave: leaving", "ended": "had ended",
                           "gone": "gone from the service", "given_up": "given up"}
WORKING = ("joining", "waiting_room") + JOINED


class FilterError(ValueError):
    """A filter that cannot be understood; the message is safe to show."""


@dataclass
class Filters:
    state: str | None = None
    day: date | None = None
    owner_id: int | None = None
    calendar_id: int | None = None


def parse_filters(args, viewer: User) -> Filters:
    filters = Filters()
    state = (args.get("state") or "").strip()
    if state:
        if state not in BOT_STATES:
            raise FilterError(f"state must be one of: {', '.join(BOT_STATES)}")
        filters.state = state
    day = (args.get("day") or "").strip()
    if day:
        try:
            filters.day = date.fromisoformat(day)
        except ValueError:
            raise FilterError("day must be a date written YYYY-MM-DD, e.g. 2026-11-02") from None
    for name in ("owner", "calendar"):
        value = (args.get(name) or "").strip()
        if value:
            try:
                setattr(filters, f"{name}_id", int(value))
            except ValueError:
                raise FilterError(f"{name} must be chosen from the list") from None
    if not viewer.is_admin:
        filters.owner_id = viewer.id  # members see their own bots only
    return filters


def list_bots(filters: Filters, limit: int = PAGE_SIZE) -> list[Bot]:
    query = select(Bot).options(selectinload(Bot.owner), selectinload(Bot.event))
    if filters.state:
        query = query.where(Bot.state == filters.state)
    if filters.day:
        start = datetime.combine(filters.day, time.min, tzinfo=timezone.utc)
        query = query.where(Bot.join_at >= start, Bot.join_at < start + timedelta(days=1))
    if filters.owner_id is not None:
        query = query.where(Bot.owner_id == filters.owner_id)
    if filters.calendar_id is not None:
        query = query.join(CalendarEvent, CalendarEvent.id == Bot.event_id).where(
            CalendarEvent.calendar_id == filters.calendar_id)
    return list(db.session.scalars(query.order_by(Bot.join_at.desc(), Bot.id.desc()).limit(limit)))


def owners() -> list[User]:
    return list(db.session.scalars(select(User).where(User.id.in_(select(Bot.owner_id))).order_by(User.email)))


def calendars(viewer: User) -> list[Calendar]:
    query = select(Calendar).order_by(Calendar.account_email, Calendar.id)
    if not viewer.is_admin:
        query = query.where(Calendar.user_id == viewer.id)
    return list(db.session.scalars(query))


SEND_EARLY = timedelta(minutes=10)  # "Send a bot now" is offered from this long before the start


def can_send_now(bot: Bot, now: datetime | None = None) -> bool:
    """A bot can be sent now while its meeting runs (or is about to start) and no bot is in it."""
    now = now or utcnow()
    return bot.event_id is not None and bot.state not in WORKING + ("leaving", "post_processing", "ended") \
        and bot.state != "cancelled" and bot.join_at - SEND_EARLY <= now < meeting_end(bot)


def can_cancel(bot: Bot) -> bool:
    return bot.meeting_key is not None and bot.state in PRE_JOIN + WORKING


def can_fetch_again(bot: Bot) -> bool:
    return bot.state == "ended" and bot.call_id is None


def transcript_lost(bot: Bot) -> bool:
    return stats.transcript_lost(bot)


def words(state: str | None) -> str:
    return STATE_WORDS.get(state, (state or "—").replace("_", " "))
