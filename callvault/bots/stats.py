"""Bot figures for the health dashboard: bots by state per day (of join_at), missed or failed bots, a day's bots."""
from datetime import datetime

from sqlalchemy import Row, and_, exists, func, or_, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Bot, BotTransition, User
from .dispatcher import MAX_TRANSCRIPT_ATTEMPTS
from .lifecycle import JOINED


def by_state(start: datetime | None = None, end: datetime | None = None) -> dict[str, int]:
    where = [] if start is None else [Bot.join_at >= start, Bot.join_at < end]
    return {state: n for state, n in db.session.execute(
        select(Bot.state, func.count()).where(*where).group_by(Bot.state).order_by(Bot.state))}


def scheduled_count(start: datetime, end: datetime) -> int:
    """Bots meant to join that day: every bot except those cancelled with their meeting."""
    return db.session.scalar(select(func.count()).select_from(Bot).where(
        Bot.join_at >= start, Bot.join_at < end, Bot.state != "cancelled"))


def joined_count(start: datetime, end: datetime) -> int:
    joined = exists().where(BotTransition.bot_id == Bot.id, BotTransition.to_state.in_(JOINED))
    return db.session.scalar(select(func.count()).select_from(Bot).where(Bot.join_at >= start, Bot.join_at < end,
                                                                         joined))


def ended_count(start: datetime, end: datetime) -> int:
    return db.session.scalar(select(func.count()).select_from(Bot).where(
        Bot.join_at >= start, Bot.join_at < end, Bot.state == "ended"))


# A bot in (or entering, or done with) its meeting: no other one is needed.
BUSY = ("joining", "waiting_room", "leaving", "post_processing", "ended") + JOINED
FAILED = ("missed", "fatal_error")  # the meeting ended with no bot; or failed, or stuck and given up
# An ended bot whose transcript never arrived after every retry: nothing ends silently.
TRANSCRIPT_LOST = and_(Bot.state == "ended", Bot.call_id.is_(None), Bot.transcript_attempts >= MAX_TRANSCRIPT_ATTEMPTS)


def transcript_lost(bot: Bot) -> bool:
    return bot.state == "ended" and bot.call_id is None and bot.transcript_attempts >= MAX_TRANSCRIPT_ATTEMPTS


def missed(since: datetime, limit: int) -> list[tuple[Bot, str | None]]:
    """Missed and failed bots, and ended bots whose transcript never arrived (newest first), with their
    owner's email. Their events come in one more query (what fixes a bot depends on its meeting's end)."""
    return db.session.execute(
        select(Bot, User.email).outerjoin(User, User.id == Bot.owner_id).options(selectinload(Bot.event))
        .where(or_(Bot.state.in_(FAILED), TRANSCRIPT_LOST), Bot.state_changed_at >= since)
        .order_by(Bot.state_changed_at.desc(), Bot.id.desc()).limit(limit)).all()


def for_meetings(start: datetime, end: datetime) -> dict[tuple[str, datetime], Row]:
    """The day's bots (id, state, state_reason, join_at, call_id) by (meeting_url, join_at); of several (a
    cancelled one, its replacement) the newest."""
    rows = db.session.execute(select(Bot.id, Bot.state, Bot.state_reason, Bot.join_at, Bot.call_id, Bot.meeting_url)
                              .where(Bot.join_at >= start, Bot.join_at < end).order_by(Bot.id))
    return {(bot.meeting_url, bot.join_at): bot for bot in rows}
