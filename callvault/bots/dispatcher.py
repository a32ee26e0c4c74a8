"""The dispatcher (every minute): make the bot service match our bots, and never leave one stuck.

For each bot that needs it, in one pass:
- a pending bot goes to the service once its join_at is within BOT_LEAD_MINUTES (join_at is
  omitted when it is already due: Attendee refuses a join_at in the past);
- a bot whose meeting moved is rescheduled (PATCH) while the service still has it `scheduled`;
  once it is `staged` or further, or a cancelled bot: `withdraw` decides DELETE or leave, in one
  place, and a moved bot gets a new service bot;
- a bot that should have moved and has not (no webhook came) is polled;
- a bot with no sign of joining BOT_GRACE_MINUTES after join_at is marked missed, with why;
- a bot still joining, in its meeting or processing BOT_STUCK_AFTER_HOURS after its meeting should
  have ended (the event's end, or join_at + DEFAULT_MEETING) is polled one last time and, if still
  not finished, given up as `fatal_error`, with why (a failure on the dashboard);
- an ended bot's transcript fetch is requested again if it has not arrived.
If the service is down, bots stay as they are and go out on a later tick, before their join_at
where the outage allows. Errors are recorded on the bot, never raised.
"""
import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select

from .. import signals
from ..extensions import db
from ..logs import log_event
from ..models import Bot, utcnow
from ..queues import redis_lock
from ..timeutil import parse_instant
from . import lifecycle, transcripts
from .client import (AttendeeClient, AttendeeError, AttendeeNotConfigured, AttendeeNotFound, AttendeeRefused,
                     AttendeeUnavailable, iso)
from .lifecycle import IN_MEETING, JOINED, PRE_JOIN, change_state, observe
from .service import client_from_config

TICK_LOCK_KEY, TICK_LOCK_SECONDS = "callvault:bots:dispatch-lock", 300
WEBHOOK_TRIGGERS = ["bot.state_change"]
MIN_JOIN_AHEAD = timedelta(seconds=30)  # closer than this, the bot is sent to join now
MAX_TRANSCRIPT_ATTEMPTS = 8  # the last try is about four hours after the end
DEFAULT_MEETING = timedelta(hours=1)  # a bot's meeting length when its event has no end


def tick(now: datetime | None = None) -> dict:
    """One pass over every bot that needs work. Returns counts per outcome."""
    now = now or utcnow()
    counts: dict[str, int] = {}
    with redis_lock(TICK_LOCK_KEY, TICK_LOCK_SECONDS, wait_seconds=0) as held:  # a tick running: skip this one
        if not held:
            return {"skipped": 1}
        try:
            client, down = client_from_config(), None
        except AttendeeNotConfigured as exc:
            client, down = None, exc
        try:
            for bot_id in _due(now):
                bot = _locked(bot_id)
                if bot is None:
                    continue
                outcome, error = _step(bot, client, now, down)
                db.session.commit()
                if outcome:
                    counts[outcome] = counts.get(outcome, 0) + 1
                if isinstance(error, AttendeeUnavailable):
                    down = down or error  # one outage answer is enough for this tick
            linked = transcripts.link_recent(now)
            if linked:
                counts["linked_to_fathom"] = linked
        finally:
            if client is not None:
                client.close()
    if counts:
        log_event("bots_dispatched", **counts)
    return counts


def _locked(bot_id: int) -> Bot | None:
    """The bot, fresh and row-locked until the step commits: a reconcile or a webhook changing it
    meanwhile waits, so neither overwrites the other (SQLite runs one job at a time anyway)."""
    query = select(Bot).where(Bot.id == bot_id).with_for_update().execution_options(populate_existing=True)
    return db.session.scalars(query).first()


def _due(now: datetime) -> list[int]:
    config = current_app.config
    lead = timedelta(minutes=config["BOT_LEAD_MINUTES"])
    stale = now - timedelta(seconds=config["BOT_POLL_AFTER_SECONDS"])
    query = select(Bot.id).where(or_(
        and_(Bot.state.in_(PRE_JOIN), Bot.join_at <= now + lead),
        and_(Bot.state.in_(PRE_JOIN), Bot.attendee_id.is_not(None), or_(
            Bot.remote_join_at.is_(None), Bot.remote_join_at != Bot.join_at,
            Bot.remote_meeting_url != Bot.meeting_url)),
        and_(Bot.state == "cancelled", Bot.remote_state.in_(("scheduled", "staged"))),
        and_(Bot.state.in_(IN_MEETING), or_(Bot.last_remote_at.is_(None), Bot.last_remote_at <= stale)),
        and_(Bot.state == "ended", Bot.call_id.is_(None), Bot.transcript_attempts < MAX_TRANSCRIPT_ATTEMPTS),
    )).order_by(Bot.join_at, Bot.id)
    return list(db.session.scalars(query))


def _step(bot: Bot, client: AttendeeClient | None, now: datetime,
          down: AttendeeError | None) -> tuple[str | None, AttendeeError | None]:
    if bot.state == "ended":
        # Retried with backoff: 1, 2, 4… minutes after the end, MAX_TRANSCRIPT_ATTEMPTS in all.
        if now < bot.state_changed_at + timedelta(minutes=2 ** bot.transcript_attempts):
            return None, None
        signals.notify(signals.bot_transcript_due, bot_id=bot.id)
        return "transcript_requested", None
    if bot.state in IN_MEETING and now > stuck_after(bot):
        return _give_up_if_stuck(bot, client, now, down)
    error = None
    try:
        if down is not None:
            raise down
        if bot.state == "cancelled":
            withdraw(bot, client, "cancelled")
            outcome = "withdrawn"
        elif bot.state in IN_MEETING:
            outcome = _poll_if_due(bot, client, now)
        else:
            outcome = _converge(bot, client, now)
    except AttendeeError as exc:
        error, bot.last_error = exc, str(exc)[:2000]
        log_event("bot_service_error", logging.WARNING, bot_id=bot.id, error=type(exc).__name__, message=str(exc))
        outcome = "service_unavailable" if isinstance(exc, AttendeeUnavailable) else "refused"
    if bot.state in PRE_JOIN and _past_grace(bot, now):
        mark_missed(bot, now)
        outcome = "missed"
    return outcome, error


def _converge(bot: Bot, client: AttendeeClient, now: datetime) -> str | None:
    """A pre-join bot: reschedule, replace or create at the service; poll it once it is due."""
    outcome = None
    if bot.attendee_id and (bot.remote_join_at != bot.join_at or bot.remote_meeting_url != bot.meeting_url):
        outcome = _reschedule(bot, client, now)
    if bot.attendee_id is None and _past_grace(bot, now):
        return outcome  # too late to join: it is marked missed
    if bot.attendee_id is None and bot.join_at <= now + timedelta(minutes=current_app.config["BOT_LEAD_MINUTES"]):
        _create(bot, client, now)
        outcome = outcome or "created"
    elif bot.attendee_id and bot.join_at <= now:
        outcome = _poll_if_due(bot, client, now) or outcome
    return outcome


def _create(bot: Bot, client: AttendeeClient, now: datetime) -> None:
    payload = {"meeting_url": bot.meeting_url, "bot_name": current_app.config["BOT_NAME"],
               "deduplication_key": bot.deduplication_key,
               "metadata": {"callvault_bot_id": str(bot.id), "generation": str(bot.generation)}}
    if bot.join_at > now + MIN_JOIN_AHEAD:
        payload["join_at"] = iso(bot.join_at)  # omitted, not null, when the bot should join at once
    webhook_url = current_app.config["PUBLIC_BASE_URL"] + lifecycle.ENDPOINT
    if webhook_url.startswith("https://"):  # Attendee refuses others: then the project-level webhook
        payload["webhooks"] = [{"url": webhook_url, "triggers": WEBHOOK_TRIGGERS}]
    remote, adopted = client.create_bot(payload)
    bot.attendee_id, bot.last_error = str(remote.get("id"))[:64], None
    if adopted:  # an earlier try made it: take its values, a PATCH follows if they differ
        bot.remote_join_at, bot.remote_meeting_url = parse_instant(remote.get("join_at")), remote.get("meeting_url")
    else:  # what we sent (Attendee may echo the URL in its own normal form); joining now is join_at
        bot.remote_join_at, bot.remote_meeting_url = bot.join_at, bot.meeting_url
    reason = "found at the bot service by its deduplication key" if adopted else "created at the bot service"
    observe(bot, remote, reason, now=now)
    log_event("bot_created_at_service", bot_id=bot.id, attendee_id=bot.attendee_id, adopted=adopted)


def _reschedule(bot: Bot, client: AttendeeClient, now: datetime) -> str:
    """PATCH while `scheduled`; otherwise (or if it became staged meanwhile) a new service bot."""
    if bot.remote_state == "scheduled" and bot.join_at > now + MIN_JOIN_AHEAD:
        try:
            remote = client.reschedule(bot.attendee_id, join_at=bot.join_at, meeting_url=bot.meeting_url)
        except AttendeeNotFound:
            remote = None
        except AttendeeRefused as exc:
            if exc.status != 400:
                raise
            observe(bot, client.get_bot(bot.attendee_id), "polled after a refused reschedule", now=now)
        else:
            if remote is not None:
                bot.remote_join_at, bot.remote_meeting_url, bot.last_error = bot.join_at, bot.meeting_url, None
                observe(bot, remote, f"rescheduled at the bot service to {iso(bot.join_at)}", now=now)
                return "rescheduled"
    withdraw(bot, client, "replaced")
    return "replaced"


def withdraw(bot: Bot, client: AttendeeClient, why: str) -> None:
    """Stop the service bot from joining: the one place that chooses between DELETE and leave.

    `scheduled` can be deleted; from about 5 minutes before join_at it is `staged`, and PATCH and
    DELETE answer 400, so it is asked to leave. For a bot that is being `replaced` (its meeting
    moved too late to reschedule) a new service bot is created on the next step.
    """
    attendee_id, action = bot.attendee_id, None
    if bot.remote_state == "scheduled":
        try:
            client.delete_bot(attendee_id)
            action = "deleted"
        except AttendeeNotFound:
            action = "gone"
        except AttendeeRefused as exc:
            if exc.status != 400:
                raise
            observe(bot, client.get_bot(attendee_id), "polled after a refused delete")
    if action is None and bot.remote_state in ("staged", "joining", "waiting_room") + JOINED:
        try:
            client.leave(attendee_id)
            action = "asked to leave"
        except AttendeeNotFound:
            action = "gone"
    if action is None:
        action = f"left as it is ({bot.remote_state})"
    bot.remote_state = {"deleted": "deleted", "gone": "deleted", "asked to leave": "leaving"}.get(action,
                                                                                              bot.remote_state)
    log_event("bot_withdrawn", bot_id=bot.id, attendee_id=attendee_id, action=action, why=why)
    if why == "replaced":
        _forget_remote(bot, f"the meeting changed too late to reschedule service bot {attendee_id} ({action}); "
                            "a new one replaces it")


def _forget_remote(bot: Bot, reason: str) -> None:
    """Let go of the service bot; the next step creates another (a new generation, so a new key)."""
    bot.attendee_id = bot.remote_state = bot.remote_join_at = bot.remote_meeting_url = None
    bot.generation += 1
    change_state(bot, "pending", reason)


def _poll_if_due(bot: Bot, client: AttendeeClient, now: datetime) -> str | None:
    """GET a bot that should have moved and has not: webhooks speed things up, polling makes them certain."""
    stale = now - timedelta(seconds=current_app.config["BOT_POLL_AFTER_SECONDS"])
    if bot.last_remote_at is not None and bot.last_remote_at > stale:
        return None
    if bot.state in JOINED and bot.event is not None and bot.event.end_at and bot.event.end_at > now:
        return None  # recording a meeting that is not over yet: nothing should have moved
    try:
        remote = client.get_bot(bot.attendee_id)
    except AttendeeNotFound:
        bot.last_remote_at = now
        bot.last_error = f"the bot service no longer has bot {bot.attendee_id}"
        if bot.state in IN_MEETING:
            change_state(bot, "fatal_error", bot.last_error)
        else:
            _forget_remote(bot, f"{bot.last_error}; a new one replaces it")
        return "polled"
    observe(bot, remote, "polled: no webhook reported this", now=now)
    return "polled"


def meeting_end(bot: Bot) -> datetime:
    """When the bot's meeting should be over: its event's end, else join_at + DEFAULT_MEETING."""
    end = bot.event.end_at if bot.event is not None else None
    return end if end is not None and end > bot.join_at else bot.join_at + DEFAULT_MEETING


def stuck_after(bot: Bot) -> datetime:
    """A bot not finished by then is stuck at the service."""
    return meeting_end(bot) + timedelta(hours=current_app.config["BOT_STUCK_AFTER_HOURS"])


def _give_up_if_stuck(bot: Bot, client: AttendeeClient | None, now: datetime,
                      down: AttendeeError | None) -> tuple[str, AttendeeError | None]:
    """Poll a stuck bot one last time; unless that shows it finished, it is a fatal_error, with why.

    A service that cannot be asked does not keep a bot stuck: it is given up all the same (a late
    webhook saying it ended still brings its transcript: fatal_error is not final for `observe`)."""
    error, found = None, None
    try:
        if down is not None:
            raise down
        remote = client.get_bot(bot.attendee_id)
    except AttendeeNotFound:
        found = "the bot service no longer has it"
    except AttendeeError as exc:
        error, bot.last_error = exc, str(exc)[:2000]
        found = f"the bot service could not be asked ({type(exc).__name__})"
    else:
        observe(bot, remote, "polled: its meeting should be over", now=now)
        if bot.state not in IN_MEETING:
            return "polled", None
        found = "the bot service still reports it " + (bot.remote_state or "unconfirmed")
    hours = f"{current_app.config['BOT_STUCK_AFTER_HOURS']:g}"
    reason = (f"stuck: still {bot.state} {hours} hours after its meeting should have ended "
              f"({meeting_end(bot):%Y-%m-%d %H:%M} UTC); {found} (service bot {bot.attendee_id}); given up")
    change_state(bot, "fatal_error", reason, at=now)
    log_event("bot_given_up", logging.WARNING, bot_id=bot.id, attendee_id=bot.attendee_id,
              remote_state=bot.remote_state, error=type(error).__name__ if error else None)
    return "given_up", error


def _past_grace(bot: Bot, now: datetime) -> bool:
    return now > bot.join_at + timedelta(minutes=current_app.config["BOT_GRACE_MINUTES"])


def mark_missed(bot: Bot, now: datetime) -> None:
    """No sign of joining BOT_GRACE_MINUTES after join_at: missed, with why."""
    grace = current_app.config["BOT_GRACE_MINUTES"]
    if bot.attendee_id is None:
        why = "the bot service never took the bot" + (f" (last error: {bot.last_error})" if bot.last_error else "")
    else:
        why = f"service bot {bot.attendee_id} was still {bot.remote_state or 'unconfirmed'}"
    change_state(bot, "missed", f"no sign of joining {grace} minutes after {bot.join_at:%Y-%m-%d %H:%M} UTC: {why}",
                 at=now)

