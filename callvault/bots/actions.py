"""What a person can do to a bot: send one now (late join), cancel it (skip the meeting), fetch its
transcript again. Blueprints and `flask bots …` call these; the dispatcher does the service calls.
Every refusal is an `ActionRefused` whose message says what the person can do instead."""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from .. import signals
from ..extensions import db
from ..logs import log_event
from ..models import Bot, CalendarEvent, User, utcnow
from . import reconcile
from .lifecycle import IN_MEETING, JOINED, PRE_JOIN, change_state, meeting_end

WORKING = ("joining", "waiting_room") + JOINED  # a bot that is in (or entering) its meeting


class ActionRefused(ValueError):
    """The action cannot be done; the message is shown as written."""


@dataclass
class Sent:
    bot: Bot
    already_there: bool  # a bot was in the meeting already: nothing was sent


def visible_to(user: User, bot: Bot) -> bool:
    """Members act on their own bots only; admins on every bot."""
    return user.is_admin or bot.owner_id == user.id


def send_now(event_id: int, by: User | None = None, now: datetime | None = None) -> Sent:
    """A bot for this calendar event's meeting, joining now, as long as the meeting is running.

    The event is marked `record` (so reconcile keeps its bot whatever the owner's setting), its
    meeting is reconciled, and its bot is asked to join now: the dispatcher sends it (or replaces a
    service bot that would join later) and lets go of any other."""
    now = now or utcnow()
    event = db.session.get(CalendarEvent, event_id)
    if event is None or event.is_deleted or (by is not None and not by.is_admin and event.calendar.user_id != by.id):
        raise ActionRefused(f"there is no calendar event {event_id}")
    if not event.meeting_url:
        raise ActionRefused(f"“{event.title or 'this event'}” has no meeting link, so a bot has nowhere to join")
    if event.is_cancelled:
        raise ActionRefused(f"“{event.title or 'this event'}” was cancelled")
    end = reconcile.event_end(event)
    if end <= now:
        raise ActionRefused(f"“{event.title or 'this meeting'}” ended at {end:%Y-%m-%d %H:%M} UTC; a bot can only "
                            "join a meeting that is still running")
    reconcile.set_event_choice(event, "record", by.id if by else None)
    db.session.commit()
    reconcile.reconcile_events([event.id], now=now)
    bot = db.session.scalars(select(Bot).where(Bot.meeting_key == reconcile.meeting_key(event.meeting_url,
                                                                                         event.start_at))).first()
    if bot is None:
        raise ActionRefused("no bot could be planned for this meeting: its calendar is not connected, or its "
                            "owner declined it")
    if bot.state in WORKING:
        return Sent(bot, already_there=True)
    who = f"{by.email} asked" if by else "asked from the command line"
    if bot.state not in PRE_JOIN:  # failed, or given up: another try
        change_state(bot, "pending", f"{who} for a bot in the meeting now", at=now)
    bot.send_now_at = now
    db.session.commit()
    log_event("bot_send_now_requested", bot_id=bot.id, event_id=event.id, by=by.id if by else None)
    signals.notify(signals.bots_changed)
    return Sent(bot, already_there=False)


def send_bot_now(bot: Bot, by: User | None = None, now: datetime | None = None) -> Sent:
    if bot.event_id is None:
        raise ActionRefused("this bot's calendar event is gone, so there is no meeting to send it to")
    return send_now(bot.event_id, by, now)


def cancel(bot: Bot, by: User, now: datetime | None = None) -> Bot:
    """Skip this bot's meeting: the owner's copies (every copy, for an admin) are marked `skip` and
    the meeting reconciled; a bot no copy wants any more is cancelled and its service bot deleted or
    asked to leave."""
    now = now or utcnow()
    if bot.state not in PRE_JOIN + IN_MEETING or bot.meeting_key is None or bot.state in ("leaving", "post_processing"):
        raise ActionRefused(f"this bot is {bot.state.replace('_', ' ')}: there is nothing to cancel")
    events = db.session.scalars(select(CalendarEvent).where(CalendarEvent.meeting_url == bot.meeting_url,
                                                            CalendarEvent.start_at == bot.join_at)).all()
    mine = [e for e in events if by.is_admin or e.calendar.user_id == by.id]
    for event in mine:
        reconcile.set_event_choice(event, "skip", by.id)
    if by.is_admin or not reconcile.wanting_events(bot.meeting_url, bot.join_at, {}):
        reconcile.cancel_bot(bot, at=now, reason=f"cancelled by {by.email}: the meeting is skipped")
        db.session.commit()
        signals.notify(signals.bots_changed)
    else:  # another attendee's calendar still wants it: the bot passes to their copy
        db.session.commit()
        reconcile.reconcile_events([e.id for e in mine], now=now)
        db.session.refresh(bot)
    log_event("bot_cancel_requested", bot_id=bot.id, by=by.id, state=bot.state)
    return bot


def fetch_transcript_again(bot: Bot) -> None:
    """An ended bot whose transcript is not stored: fetched again now, with a fresh set of retries."""
    if bot.state != "ended":
        raise ActionRefused(f"this bot is {bot.state.replace('_', ' ')}; a transcript comes once it has ended")
    if bot.call_id is not None:
        raise ActionRefused("this bot's transcript is stored already")
    bot.transcript_attempts, bot.transcript_error = 0, None
    db.session.commit()
    signals.notify(signals.bot_transcript_due, bot_id=bot.id)


def still_running(bot: Bot, now: datetime | None = None) -> bool:
    return (now or utcnow()) < meeting_end(bot)
