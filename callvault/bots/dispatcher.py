"""The dispatcher (every minute): make the bot service match our bots, and never leave one stuck.

For each bot that needs it, in one pass:
- a pending bot goes to the service once its join_at is within BOT_LEAD_MINUTES (join_at is
  omitted when it is already due: Attendee refuses a join_at in the past, and a bot without one
  joins at once). A meeting that is still running gets a bot sent now, whenever it was added;
- a bot whose meeting moved is rescheduled (PATCH) while the service still has it `scheduled`;
  otherwise its service bot is let go of (a `BotDeparture`) and a new one is created at once;
- a cancelled bot's service bot is let go of the same way;
- a service bot still `scheduled` or `staged` BOT_GRACE_MINUTES after join_at (Attendee's scheduler
  skips late bots), or one that failed while its meeting runs, is replaced by one that joins now;
- a bot asked to join now (`send_now_at`) replaces a service bot that would join later;
- a bot is `missed` only when its meeting ended before any bot could join, with why;
- a bot still joining, in its meeting or processing BOT_STUCK_AFTER_HOURS after its meeting should
  have ended is polled one last time and, if still not finished, given up as `fatal_error`, with
  why (a failure on the dashboard); if it is still in the meeting it is asked to leave;
- an ended bot's transcript fetch is requested again if it has not arrived, once its backoff has
  passed, at most TRANSCRIPT_RETRIES_PER_TICK in a pass (the longest waiting first).
Departures are then worked on: DELETE while `scheduled`, wait while `staged` (the service refuses
DELETE, PATCH and leave then), POST /leave from `joining` on, until the service confirms or the
bot has ended. If the service is down, bots stay as they are and go out on a later tick.
Errors are recorded on the bot or departure, never raised.
"""
import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select

from .. import signals
from ..extensions import db
from ..logs import log_event
from ..models import Bot, BotDeparture, utcnow
from ..queues import redis_lock
from ..timeutil import parse_instant
from . import lifecycle, transcripts
from .client import (TERMINAL_STATES, AttendeeClient, AttendeeError, AttendeeNotConfigured, AttendeeNotFound,
                     AttendeeRefused, AttendeeUnavailable, iso)
from .lifecycle import DEFAULT_MEETING, IN_MEETING, JOINED, LEAVABLE, PRE_JOIN, change_state, meeting_end, observe
from .service import client_from_config

TICK_LOCK_KEY, TICK_LOCK_SECONDS = "callvault:bots:dispatch-lock", 300
WEBHOOK_TRIGGERS = ["bot.state_change"]
MIN_JOIN_AHEAD = timedelta(seconds=30)  # closer than this, the bot is sent to join now
MAX_TRANSCRIPT_ATTEMPTS = 8  # the last try is about four hours after the end
# Ended bots whose transcript is asked for again in one pass, the longest waiting first: after an outage
# of the bot service thousands may be due, and each pass must stay short (one pass over 39,000 took
# 153 s and queued a fetch for every one, again each minute while the fetches waited).
TRANSCRIPT_RETRIES_PER_TICK = 200
MAX_GENERATIONS = 6  # service bots tried for one meeting before it is left to a person
DEPARTURE_GIVE_UP = timedelta(hours=12)  # a let-go service bot never seen leaving is given up then
RELAUNCH_WINDOW = timedelta(hours=12)  # how far back a failed bot's meeting may have started
__all__ = ["DEFAULT_MEETING", "meeting_end", "stuck_after", "tick", "dispatch_bot"]


def tick(now: datetime | None = None) -> dict:
    """One pass over every bot and departure that needs work. Returns counts per outcome."""
    now = now or utcnow()
    with redis_lock(TICK_LOCK_KEY, TICK_LOCK_SECONDS, wait_seconds=0) as held:  # a tick running: skip this one
        if not held:
            return {"skipped": 1}
        counts = _run(_due(now), now)
        linked = transcripts.link_recent(now)
        if linked:
            counts["linked_to_fathom"] = linked
    if counts:
        log_event("bots_dispatched", **counts)
    return counts


def dispatch_bot(bot_id: int, now: datetime | None = None) -> dict:
    """The dispatcher's step for one bot now (and the departures it leaves), e.g. after "send now"."""
    now = now or utcnow()
    with redis_lock(TICK_LOCK_KEY, TICK_LOCK_SECONDS, wait_seconds=30) as held:
        if not held:
            raise RuntimeError("the dispatcher is busy; the bot goes out with its next pass, within a minute")
        return _run([bot_id], now)


def _run(bot_ids: list[int], now: datetime) -> dict:
    counts: dict[str, int] = {}
    try:
        client, down = client_from_config(), None
    except AttendeeNotConfigured as exc:
        client, down = None, exc
    try:
        for bot_id in bot_ids:
            bot = _locked(bot_id)
            if bot is None:
                continue
            outcome, error = _step(bot, client, now, down)
            db.session.commit()
            if outcome:
                counts[outcome] = counts.get(outcome, 0) + 1
            if isinstance(error, AttendeeUnavailable):
                down = down or error  # one outage answer is enough for this tick
        for outcome in _work_on_departures(client, now, down):
            counts[outcome] = counts.get(outcome, 0) + 1
    finally:
        if client is not None:
            client.close()
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
        and_(Bot.state.in_(PRE_JOIN), or_(Bot.join_at <= now + lead, Bot.send_now_at.is_not(None))),
        and_(Bot.state.in_(PRE_JOIN), Bot.attendee_id.is_not(None), or_(
            Bot.remote_join_at.is_(None), Bot.remote_join_at != Bot.join_at,
            Bot.remote_meeting_url != Bot.meeting_url)),
        and_(Bot.state == "cancelled", Bot.attendee_id.is_not(None)),
        and_(Bot.state.in_(IN_MEETING), or_(Bot.last_remote_at.is_(None), Bot.last_remote_at <= stale)),
        and_(Bot.state == "fatal_error", Bot.join_at >= now - RELAUNCH_WINDOW, Bot.join_at <= now,
             Bot.generation < MAX_GENERATIONS),
    )).order_by(Bot.join_at, Bot.id)
    retries = (select(Bot.id).where(Bot.state == "ended", Bot.call_id.is_(None), _transcript_retry_due(now))
               .order_by(Bot.state_changed_at, Bot.id).limit(TRANSCRIPT_RETRIES_PER_TICK))
    return list(db.session.scalars(query)) + list(db.session.scalars(retries))


def _transcript_retry_after(attempts: int) -> timedelta:
    """An ended bot's transcript is fetched again this long after its end: 1, 2, 4… minutes."""
    return timedelta(minutes=2 ** attempts)


def _transcript_retry_due(now: datetime):
    """`_transcript_retry_after` in SQL, per attempt count, so that bots still waiting are not even read."""
    return or_(*(and_(Bot.transcript_attempts == attempts,
                      Bot.state_changed_at <= now - _transcript_retry_after(attempts))
                 for attempts in range(MAX_TRANSCRIPT_ATTEMPTS)))


def _step(bot: Bot, client: AttendeeClient | None, now: datetime,
          down: AttendeeError | None) -> tuple[str | None, AttendeeError | None]:
    if bot.state == "ended":
        # MAX_TRANSCRIPT_ATTEMPTS in all; checked here too for a bot dispatched alone (dispatch_bot)
        if now < bot.state_changed_at + _transcript_retry_after(bot.transcript_attempts):
            return None, None
        signals.notify(signals.bot_transcript_due, bot_id=bot.id)
        return "transcript_requested", None
    if bot.state == "cancelled":  # needs no answer from the service: the departure does the asking
        withdraw(bot, bot.state_reason or "cancelled", now)
        return "withdrawn", None
    if bot.state in IN_MEETING and now > stuck_after(bot):
        return _give_up_if_stuck(bot, client, now, down)
    if bot.state == "fatal_error" and not _running(bot, now):
        if _failed_before_joining(bot):  # and no replacement could join before the end: nothing recorded
            mark_missed(bot, now)
            return "missed", None
        return None, None
    error = None
    try:
        if down is not None:
            raise down
        if bot.state in IN_MEETING:
            outcome = _poll_if_due(bot, client, now)
        elif bot.state == "fatal_error":
            outcome = _relaunch(bot, client, now)
        else:
            outcome = _converge(bot, client, now)
    except AttendeeError as exc:
        error, bot.last_error = exc, str(exc)[:2000]
        log_event("bot_service_error", logging.WARNING, bot_id=bot.id, error=type(exc).__name__, message=str(exc))
        outcome = "service_unavailable" if isinstance(exc, AttendeeUnavailable) else "refused"
    # A service bot we could not ask about may have joined: it is missed only once the service says it did
    # not, or after BOT_STUCK_AFTER_HOURS (a poll after the outage finds it recorded).
    unknown = bot.attendee_id is not None and error is not None and now <= stuck_after(bot)
    if bot.state in PRE_JOIN and not _running(bot, now) and not unknown:
        mark_missed(bot, now)
        outcome = "missed"
    return outcome, error


def _running(bot: Bot, now: datetime) -> bool:
    """The meeting has not ended: a bot can still be useful."""
    return now < meeting_end(bot)


def _converge(bot: Bot, client: AttendeeClient, now: datetime) -> str | None:
    """A pre-join bot: reschedule, replace or create at the service; poll it once it is due, and
    replace a service bot that shows no sign of joining."""
    outcome = None
    if bot.attendee_id and (bot.send_now_at or bot.remote_join_at != bot.join_at
                            or bot.remote_meeting_url != bot.meeting_url):
        outcome = _reschedule(bot, client, now)
    if bot.attendee_id and bot.join_at <= now:
        outcome = _poll_if_due(bot, client, now) or outcome
        grace = timedelta(minutes=current_app.config["BOT_GRACE_MINUTES"])
        if bot.state in PRE_JOIN and bot.remote_state in ("scheduled", "staged") and now >= bot.join_at + grace \
                and _running(bot, now):
            _replace(bot, f"service bot {bot.attendee_id} was still {bot.remote_state} "
                          f"{current_app.config['BOT_GRACE_MINUTES']} minutes after the meeting started", now)
            outcome = "replaced"
    lead = timedelta(minutes=current_app.config["BOT_LEAD_MINUTES"])
    # A replaced service bot is replaced at once, whatever the lead time: the meeting is never without one.
    if bot.attendee_id is None and _running(bot, now) and (
            bot.send_now_at or outcome == "replaced" or bot.join_at <= now + lead):
        late = bot.join_at <= now
        _create(bot, client, now)
        outcome = "sent_late" if late else (outcome or "created")
    return outcome


def _relaunch(bot: Bot, client: AttendeeClient, now: datetime) -> str | None:
    """A service bot that failed while its meeting still runs: another one, joining now."""
    _replace(bot, f"service bot {bot.attendee_id or '-'} failed ({bot.state_reason or 'fatal_error'}) while the "
                  "meeting is still running", now)
    _create(bot, client, now)
    return "sent_late"


def _create(bot: Bot, client: AttendeeClient, now: datetime) -> None:
    payload = {"meeting_url": bot.meeting_url, "bot_name": current_app.config["BOT_NAME"],
               "deduplication_key": bot.deduplication_key,
               "metadata": {"callvault_bot_id": str(bot.id), "generation": str(bot.generation)}}
    join_now = bot.send_now_at is not None or bot.join_at <= now + MIN_JOIN_AHEAD
    if not join_now:
        payload["join_at"] = iso(bot.join_at)  # omitted, not null, when the bot should join at once
    webhook_url = lifecycle.webhook_url()
    if webhook_url.startswith("https://"):  # Attendee refuses others: then the project-level webhook
        payload["webhooks"] = [{"url": webhook_url, "triggers": WEBHOOK_TRIGGERS}]
    remote, adopted = client.create_bot(payload)
    bot.attendee_id, bot.last_error, bot.send_now_at = str(remote.get("id"))[:64], None, None
    if adopted:  # an earlier try made it: take its values, a PATCH follows if they differ
        bot.remote_join_at, bot.remote_meeting_url = parse_instant(remote.get("join_at")), remote.get("meeting_url")
    else:  # what we sent (Attendee may echo the URL in its own normal form); joining now is join_at
        bot.remote_join_at, bot.remote_meeting_url = bot.join_at, bot.meeting_url
    if adopted:
        reason = "found at the bot service by its deduplication key"
    elif join_now and bot.join_at < now:
        reason = f"sent to join now: the meeting started at {bot.join_at:%H:%M} UTC and is still running"
    elif join_now:
        reason = "sent to join now"
    else:
        reason = "created at the bot service"
    observe(bot, remote, reason, now=now)
    log_event("bot_created_at_service", bot_id=bot.id, attendee_id=bot.attendee_id, adopted=adopted,
              join_now=join_now)


def _reschedule(bot: Bot, client: AttendeeClient, now: datetime) -> str:
    """PATCH while `scheduled`; otherwise (or if it became staged meanwhile) a new service bot at once."""
    if not bot.send_now_at and bot.remote_state == "scheduled" and bot.join_at > now + MIN_JOIN_AHEAD:
        try:
            remote = client.reschedule(bot.attendee_id, join_at=bot.join_at, meeting_url=bot.meeting_url)
        except AttendeeNotFound:
            remote = None
        except AttendeeRefused as exc:
            if exc.status != 400:
                raise
            observe(bot, client.get_bot(bot.attendee_id), "polled after a refused reschedule", now=now,
                    source="poll")
        else:
            if remote is not None:
                bot.remote_join_at, bot.remote_meeting_url, bot.last_error = bot.join_at, bot.meeting_url, None
                observe(bot, remote, f"rescheduled at the bot service to {iso(bot.join_at)}", now=now)
                return "rescheduled"
    if bot.send_now_at:
        why = f"asked to join now; service bot {bot.attendee_id} would have joined at {bot.remote_join_at:%H:%M} UTC" \
            if bot.remote_join_at else f"asked to join now instead of service bot {bot.attendee_id}"
    else:
        why = (f"the meeting changed when service bot {bot.attendee_id} could no longer be rescheduled "
               f"({bot.remote_state})")
    _replace(bot, why, now)
    return "replaced"


def withdraw(bot: Bot, why: str, now: datetime) -> None:
    """Let go of a cancelled bot's service bot: its departure deletes it or makes it leave."""
    if bot.attendee_id:
        _depart(bot, why, now)
        _forget_remote(bot)


def _replace(bot: Bot, why: str, now: datetime) -> None:
    """A new service bot replaces the current one, which is let go of (deleted or asked to leave)."""
    old = bot.attendee_id
    if old:
        _depart(bot, why, now)
        _forget_remote(bot)
    change_state(bot, "pending", f"{why}; a new bot replaces it" if old else why, at=now)


def _depart(bot: Bot, why: str, now: datetime) -> BotDeparture:
    """One departure per service bot (a stuck bot given up may already have one)."""
    departure = db.session.scalars(select(BotDeparture).where(BotDeparture.attendee_id == bot.attendee_id)).first()
    if departure is None:
        departure = BotDeparture(attendee_id=bot.attendee_id, reason=why[:2000], remote_state=bot.remote_state,
                                 attempts=0, created_at=now)
        bot.departures.append(departure)
        log_event("bot_departure_requested", bot_id=bot.id, attendee_id=bot.attendee_id, why=why[:200])
    return departure


def _forget_remote(bot: Bot) -> None:
    """Let go of the service bot; the next create makes another (a new generation, so a new key, and
    webhooks of the old one are not mistaken for the new one's)."""
    bot.attendee_id = bot.remote_state = bot.remote_join_at = bot.remote_meeting_url = None
    bot.generation += 1


# --- departures ----------------------------------------------------------------------------------

def _work_on_departures(client: AttendeeClient | None, now: datetime, down: AttendeeError | None) -> list[str]:
    """Move every open departure on as far as the service allows now."""
    outcomes = []
    ids = list(db.session.scalars(select(BotDeparture.id).where(BotDeparture.done_at.is_(None))
                                  .order_by(BotDeparture.id)))
    for departure_id in ids:
        departure = db.session.scalars(select(BotDeparture).where(BotDeparture.id == departure_id).with_for_update()
                                       .execution_options(populate_existing=True)).first()
        if departure is None or departure.done_at is not None:
            continue
        try:
            if down is not None:
                raise down
            outcome = _depart_step(departure, client, now)
        except AttendeeError as exc:
            departure.attempts += 1
            departure.last_error = str(exc)[:2000]
            down = exc if isinstance(exc, AttendeeUnavailable) else down
            outcome = None
        if departure.done_at is None and now > departure.created_at + DEPARTURE_GIVE_UP:
            _finish(departure, "given_up", now)
            log_event("bot_departure_given_up", logging.WARNING, attendee_id=departure.attendee_id,
                      remote_state=departure.remote_state)
            outcome = "departure_given_up"
        db.session.commit()
        if outcome:
            outcomes.append(outcome)
    return outcomes


def _depart_step(departure: BotDeparture, client: AttendeeClient, now: datetime) -> str | None:
    """Look at the service bot, then DELETE it (scheduled), ask it to leave (joining on), or wait (staged)."""
    departure.attempts += 1
    try:
        state = client.get_bot(departure.attendee_id).get("state")
        departure.remote_state = str(state)[:32] if state else departure.remote_state
        if state == "scheduled":
            client.delete_bot(departure.attendee_id)
            return _finish(departure, "deleted", now)
        if state in LEAVABLE:
            client.leave(departure.attendee_id)
            departure.remote_state = "leaving"
            return _finish(departure, "left", now)
    except AttendeeNotFound:
        return _finish(departure, "gone", now)
    except AttendeeRefused as exc:
        if exc.status != 400:
            raise
        departure.last_error = str(exc)[:2000]  # it moved on meanwhile: the next pass sees where to
        return None
    if state in TERMINAL_STATES or state in ("leaving", "post_processing"):
        return _finish(departure, "ended", now)
    departure.last_error = None
    return None  # staged (or ready): the service refuses DELETE and leave until it is joining


def _finish(departure: BotDeparture, outcome: str, now: datetime) -> str:
    departure.outcome, departure.done_at, departure.last_error = outcome, now, None
    log_event("bot_departed", bot_id=departure.bot_id, attendee_id=departure.attendee_id, outcome=outcome)
    return f"departure_{outcome}"


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
            change_state(bot, "fatal_error", bot.last_error, source="poll")
        else:
            _forget_remote(bot)
            change_state(bot, "pending", f"{bot.last_error}; a new one replaces it", at=now, source="poll")
        return "polled"
    observe(bot, remote, "polled: no webhook reported this", now=now, source="poll")
    return "polled"


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
        observe(bot, remote, "polled: its meeting should be over", now=now, source="poll")
        if bot.state not in IN_MEETING:
            return "polled", None
        found = "the bot service still reports it " + (bot.remote_state or "unconfirmed")
    hours = f"{current_app.config['BOT_STUCK_AFTER_HOURS']:g}"
    reason = (f"stuck: still {bot.state} {hours} hours after its meeting should have ended "
              f"({meeting_end(bot):%Y-%m-%d %H:%M} UTC); {found} (service bot {bot.attendee_id}); given up")
    change_state(bot, "fatal_error", reason, at=now)
    if bot.attendee_id and bot.remote_state in LEAVABLE:  # still in a meeting: it must not stay there
        _depart(bot, "given up as stuck while still in the meeting", now)
    log_event("bot_given_up", logging.WARNING, bot_id=bot.id, attendee_id=bot.attendee_id,
              remote_state=bot.remote_state, error=type(error).__name__ if error else None)
    return "given_up", error


def _failed_before_joining(bot: Bot) -> bool:
    """Its service bot failed while the meeting ran, never having been in it, and no call came of it."""
    return (bot.call_id is None and bot.state_changed_at < meeting_end(bot)
            and not any(change.to_state in JOINED for change in bot.transitions))


def mark_missed(bot: Bot, now: datetime) -> None:
    """The meeting ended before any bot could join: missed, with why."""
    if bot.attendee_id is None:
        why = "the bot service never took a bot" + (f" (last error: {bot.last_error})" if bot.last_error else "")
    elif bot.state == "fatal_error":
        why = (f"service bot {bot.attendee_id} failed ({bot.remote_state or 'fatal_error'}) and no other bot could "
               "be sent" + (f" (last error: {bot.last_error})" if bot.last_error else ""))
    else:
        why = f"service bot {bot.attendee_id} was still {bot.remote_state or 'unconfirmed'}"
    change_state(bot, "missed", f"the meeting ended ({meeting_end(bot):%Y-%m-%d %H:%M} UTC) before a bot could "
                                f"join: {why}", at=now)
