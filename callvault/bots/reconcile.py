"""Which events get bots, and one bot per meeting whoever's calendars it appears in.

A meeting is its normalised URL plus its start time. An event wants a bot when it has a meeting
URL, is neither cancelled nor deleted nor all-day, its calendar is connected, the owner has not
declined it nor skipped it, and the owner records it: "all" (everyone's default, whatever way the
calendar was connected), or "external" when someone outside the owner's domains is invited; "none"
records only meetings the owner sent a bot to by hand.

Reconciling looks at whole meetings, not single events, so the outcome does not depend on which
copy changed first: a meeting with wanting events and no bot gets one (the bot of a copy that
moved follows it, including from the past into the future); a bot whose meeting no copy wants
any more is re-linked to another copy or cancelled — whatever its state, a bot in the meeting too
(the dispatcher makes it leave). A meeting gets a bot as long as it has not ended. Nothing here
calls the bot service: the dispatcher makes the service match the rows.
"""
import hashlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from .. import signals
from ..extensions import db
from ..logs import log_event
from ..models import AUTO_RECORD_CHOICES, Bot, BotEventChoice, BotPreference, Calendar, CalendarEvent, User, utcnow
from ..queues import redis_lock
from .lifecycle import DEFAULT_MEETING, IN_MEETING, PRE_JOIN, change_state, rehearsal

# A bot that can still follow its meeting, or be cancelled with it (from joining on, its service bot leaves).
MOVABLE = ("pending", "scheduled", "staged", "missed", "joining", "waiting_room", "joined_not_recording",
           "joined_recording", "joined_recording_paused")
EVENT_CHOICES = ("record", "skip")
LOCK_KEY, LOCK_TTL_SECONDS, LOCK_WAIT_SECONDS = "callvault:bots:reconcile-lock", 120, 60


@dataclass
class Plan:
    """What a reconcile did (or, dry, would do)."""

    created: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    relinked: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.moved or self.relinked or self.cancelled)


def meeting_key(url: str, start: datetime) -> str:
    return hashlib.sha256(f"{url}|{start.isoformat()}".encode()).hexdigest()


# --- who wants a bot -----------------------------------------------------------------------------

def auto_record(user: User, calendar: Calendar | None = None) -> str:
    """The owner's choice; without one, every meeting with a link is recorded (like the original system)."""
    preference = BotPreference.query.filter_by(user_id=user.id).first()
    return preference.auto_record if preference is not None else "all"


AUTO_RECORD_WORDS = {
    "all": "a bot joins every meeting with a video link on your connected calendars",
    "external": "a bot joins meetings with a video link that someone outside your company is invited to",
    "none": "no bot joins your meetings unless you send one",
}


def auto_record_words(user: User) -> str:
    """What will happen to a user's meetings, in a sentence (Settings, the calendar-connected page)."""
    return AUTO_RECORD_WORDS[auto_record(user)]


def event_choice(event_id: int) -> str | None:
    return db.session.scalar(select(BotEventChoice.choice).where(BotEventChoice.event_id == event_id))


def wants_bot(event: CalendarEvent, modes: dict | None = None) -> bool:
    if event.is_deleted or event.is_cancelled or event.is_all_day or not event.meeting_url or event.start_at is None:
        return False
    calendar = event.calendar
    if not calendar.is_connected:
        return False
    user = calendar.user
    own = {calendar.account_email.lower(), user.email.lower()} | {h.email for h in user.host_emails}
    if any(isinstance(a, dict) and a.get("email") in own and a.get("response") == "declined"
           for a in event.attendees or []):
        return False
    choice = event_choice(event.id)
    if choice is not None:
        return choice == "record"
    modes = {} if modes is None else modes
    if calendar.id not in modes:
        modes[calendar.id] = auto_record(user, calendar)
    if modes[calendar.id] != "external":
        return modes[calendar.id] == "all"
    domains = {e.rsplit("@", 1)[-1] for e in own}
    emails = [a.get("email") for a in event.attendees or [] if isinstance(a, dict) and a.get("email")]
    return any(e not in own and e.rsplit("@", 1)[-1] not in domains for e in emails)


def set_event_choice(event: CalendarEvent, choice: str, user_id: int | None) -> None:
    """An owner's word on one meeting (`record` or `skip`); the caller commits and reconciles."""
    if choice not in EVENT_CHOICES:
        raise ValueError(f"a meeting's choice must be one of {', '.join(EVENT_CHOICES)}")
    row = db.session.scalars(select(BotEventChoice).where(BotEventChoice.event_id == event.id)).first()
    if row is None:
        row = BotEventChoice(event_id=event.id)
        db.session.add(row)
    row.choice, row.user_id = choice, user_id
    db.session.flush()


def set_auto_record(user: User, mode: str) -> None:
    """Store a user's choice, then reconcile their upcoming meetings (bots appear or go)."""
    if mode not in AUTO_RECORD_CHOICES:
        raise ValueError(f"auto-record must be one of {', '.join(AUTO_RECORD_CHOICES)}")
    preference = BotPreference.query.filter_by(user_id=user.id).first() or BotPreference(user_id=user.id)
    preference.auto_record = mode
    db.session.add(preference)
    db.session.commit()
    log_event("bot_auto_record_set", user_id=user.id, mode=mode)
    request_reconcile(events_of_user(user.id))


# --- reconciling meetings ------------------------------------------------------------------------

def reconcile_events(event_ids, now: datetime | None = None, dry_run: bool = False) -> Plan:
    """Reconcile the meetings these events belong to, now and before their change."""
    ids = list(set(event_ids))
    if not ids:
        return Plan()
    with _lock():
        events = db.session.scalars(select(CalendarEvent).where(CalendarEvent.id.in_(ids))).all()
        meetings = {meeting_key(e.meeting_url, e.start_at): (e.meeting_url, e.start_at)
                    for e in events if e.meeting_url and e.start_at}
        for bot in db.session.scalars(select(Bot).where(Bot.event_id.in_(ids), Bot.meeting_key.is_not(None))):
            meetings.setdefault(bot.meeting_key, (bot.meeting_url, bot.join_at))
        if dry_run:
            try:
                with rehearsal():
                    plan = _reconcile(meetings, now or utcnow(), dry_run)
            finally:
                db.session.rollback()
        else:
            plan = _reconcile(meetings, now or utcnow(), dry_run)
            db.session.commit()
    if plan.changed and not dry_run:
        request_dispatch()
    return plan


def ensure(days: int, now: datetime | None = None, dry_run: bool = False) -> Plan:
    """Reconcile every meeting that has not ended, until `days` ahead (`flask bots ensure`)."""
    now = now or utcnow()
    ids = db.session.scalars(select(CalendarEvent.id).where(
        CalendarEvent.meeting_url.is_not(None), not_over(now), CalendarEvent.start_at < now + timedelta(days=days)))
    bot_events = db.session.scalars(select(Bot.event_id).where(
        Bot.event_id.is_not(None), Bot.state.in_(MOVABLE), Bot.join_at >= now - timedelta(days=1)))
    return reconcile_events(set(ids) | set(bot_events), now, dry_run)


def _reconcile(meetings: dict, now: datetime, dry_run: bool) -> Plan:
    plan, modes = Plan(), {}
    holders = {key: wanting_events(url, start, modes) for key, (url, start) in meetings.items()}
    query = (select(Bot).where(Bot.meeting_key.in_(list(meetings))).order_by(Bot.id).with_for_update()
             .execution_options(populate_existing=True))
    bots = {b.meeting_key: b for b in db.session.scalars(query)}
    orphans = [b for key, b in bots.items() if not holders[key] and b.state in MOVABLE]
    for key, events in holders.items():
        if not events:
            continue
        bot, first = bots.get(key), events[0]
        if bot is not None:
            holder = next((e for e in events if e.id == bot.event_id), None)
            _link(bot, holder or first)  # a copy that stays keeps the bot (with its latest title)
            if holder is None:
                plan.relinked.append(_describe(first))
            continue
        if event_end(first) <= now:
            continue  # too late to record: nothing is created for a meeting that is over
        mover = next((b for b in orphans if b.event_id in {e.id for e in events}), None)
        if mover is not None:
            orphans.remove(mover)
            _move(mover, key, first)
            plan.moved.append(_describe(first))
        else:
            create_bot(key, first)
            plan.created.append(_describe(first))
    for bot in orphans:
        if bot.state in PRE_JOIN + IN_MEETING:
            cancel_bot(bot)
            plan.cancelled.append(f"bot {bot.id} ({bot.title or bot.meeting_url})")
    db.session.flush()
    if plan.changed:
        log_event("bots_reconciled", dry_run=dry_run, created=len(plan.created), moved=len(plan.moved),
                  relinked=len(plan.relinked), cancelled=len(plan.cancelled))
    return plan


def event_end(event: CalendarEvent) -> datetime:
    return event.end_at if event.end_at is not None and event.end_at > event.start_at \
        else event.start_at + DEFAULT_MEETING


def not_over(now: datetime):
    """Events whose meeting has not ended (an event without an end lasts DEFAULT_MEETING)."""
    return or_(and_(CalendarEvent.end_at.is_not(None), CalendarEvent.end_at > now),
               and_(CalendarEvent.end_at.is_(None), CalendarEvent.start_at > now - DEFAULT_MEETING))


def wanting_events(url: str, start: datetime, modes: dict) -> list[CalendarEvent]:
    rows = db.session.scalars(select(CalendarEvent).where(CalendarEvent.meeting_url == url,
                                                          CalendarEvent.start_at == start)
                              .order_by(CalendarEvent.id))
    return [e for e in rows if wants_bot(e, modes)]


def create_bot(key: str, event: CalendarEvent, at: datetime | None = None) -> Bot:
    """A new pending bot for the meeting `key`, held by `event` (added to the session)."""
    bot = Bot(meeting_key=key, meeting_url=event.meeting_url, join_at=event.start_at)
    _link(bot, event)
    change_state(bot, "pending", f"meeting found in {event.calendar.account_email}'s calendar", at=at)
    db.session.add(bot)
    return bot


def cancel_bot(bot: Bot, at: datetime | None = None,
               reason: str = "no calendar still wants this meeting (deleted, declined, skipped or moved)") -> None:
    """A bot no calendar wants any more; its meeting may be wanted again later, by a new bot.
    Its service bot is deleted or asked to leave by the dispatcher."""
    change_state(bot, "cancelled", reason, at=at)
    bot.meeting_key, bot.send_now_at = None, None


def _move(bot: Bot, key: str, event: CalendarEvent) -> None:
    moved_from = bot.join_at
    bot.meeting_key, bot.meeting_url, bot.join_at = key, event.meeting_url, event.start_at
    _link(bot, event)
    change_state(bot, "pending", f"meeting moved from {moved_from:%Y-%m-%d %H:%M} to "
                                 f"{event.start_at:%Y-%m-%d %H:%M} UTC or to a new link; the bot follows it")


def _link(bot: Bot, event: CalendarEvent) -> None:
    bot.event_id, bot.owner_id, bot.title = event.id, event.calendar.user_id, (event.title or "")[:1000] or None


def _describe(event: CalendarEvent) -> str:
    return f"{event.title or 'Untitled'} at {event.start_at:%Y-%m-%d %H:%M} UTC ({event.calendar.account_email})"


# --- plumbing ------------------------------------------------------------------------------------

@contextmanager
def _lock():
    """One reconcile at a time across processes: two copies of one meeting synced at once must not
    both create its bot (the unique meeting_key would refuse the second anyway)."""
    with redis_lock(LOCK_KEY, LOCK_TTL_SECONDS, LOCK_WAIT_SECONDS) as held:
        if not held:
            raise RuntimeError("another bot reconcile held the lock for too long; the periodic ensure retries")
        yield


def request_reconcile(event_ids) -> None:
    """Reconcile these events' meetings in the background (if Redis is down the periodic ensure catches up)."""
    ids = sorted(set(event_ids))
    if ids:
        signals.bots_reconcile_requested.send(None, event_ids=ids)


def on_calendar_events_changed(_sender, calendar_id: int, created, updated, deleted) -> None:
    """Reconcile the meetings of whatever a calendar sync created, updated or deleted."""
    request_reconcile(created + updated + deleted)


def on_calendar_disconnected(_sender, calendar_id: int) -> None:
    """A disconnected calendar's bots go, or pass to another attendee's copy, at once."""
    request_reconcile(events_of_calendar(calendar_id))


def events_of_calendar(calendar_id: int, now: datetime | None = None) -> list[int]:
    """A calendar's events that have not ended, and those of bots its events hold."""
    now = now or utcnow()
    ids = set(db.session.scalars(select(CalendarEvent.id).where(
        CalendarEvent.calendar_id == calendar_id, not_over(now), CalendarEvent.meeting_url.is_not(None))))
    ids |= set(db.session.scalars(select(Bot.event_id).join(CalendarEvent, CalendarEvent.id == Bot.event_id).where(
        CalendarEvent.calendar_id == calendar_id, Bot.state.in_(MOVABLE), Bot.join_at >= now - timedelta(days=1))))
    return sorted(ids)


def request_dispatch() -> None:
    signals.bots_changed.send(None)


def events_of_user(user_id: int) -> list[int]:
    """Upcoming events of a user's calendars and of bots they hold (after an auto-record change)."""
    now = utcnow()
    ids = set(db.session.scalars(select(CalendarEvent.id).join(Calendar, Calendar.id == CalendarEvent.calendar_id)
                                 .where(Calendar.user_id == user_id, not_over(now),
                                        CalendarEvent.meeting_url.is_not(None))))
    ids |= set(db.session.scalars(select(Bot.event_id).where(
        Bot.owner_id == user_id, Bot.event_id.is_not(None), or_(Bot.state.in_(PRE_JOIN + IN_MEETING), and_(
            Bot.state == "missed", Bot.join_at >= now)))))
    return sorted(ids)
