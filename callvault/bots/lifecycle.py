"""A bot's lifecycle: the one function that changes its state, and what the service tells us.

`change_state` is the only writer of `Bot.state`; every change leaves a BotTransition (from, to,
reason, time). `observe` turns what the bot service reports (an API answer, a polled bot, a
webhook) into a state change, never backwards: webhooks can arrive late and out of order. A bot
we marked missed comes back to life if the service shows it joined after all; one we cancelled
stays cancelled.

Webhooks from `/webhooks/attendee` go through the shared intake (logged first, judged, deduped
on `idempotency_key`, processed in the queue). Attendee signs the payload, not the bytes it sent:
base64 HMAC-SHA256 keyed with the base64-decoded secret over the JSON re-serialised with sorted
keys, `ensure_ascii=False` and `(",", ":")`, so the judge parses the body and re-serialises it.
"""
import base64
import binascii
import hashlib
import hmac
import json
import logging
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Mapping

from flask import current_app
from sqlalchemy import select

from .. import jsonbody, signals
from ..extensions import db
from ..logs import log_event
from ..models import BOT_STATES, TRANSITION_SOURCES, Bot, BotDeparture, BotTransition, WebhookDelivery, utcnow
from ..timeutil import parse_instant
from ..webhooks import intake
from ..webhooks.intake import Rejected, Verdict

SOURCE = "attendee"
ENDPOINT = "/webhooks/attendee"
SIGNATURE_HEADER = "X-Webhook-Signature"
PRE_JOIN = ("pending", "scheduled", "staged")
IN_MEETING = ("joining", "waiting_room", "joined_not_recording", "joined_recording", "joined_recording_paused",
              "leaving", "post_processing")
JOINED = ("joined_not_recording", "joined_recording", "joined_recording_paused")
# How far along a bot is; a report of an earlier stage than the one we know is stale news.
RANK = {"missed": -1, "pending": 0, "scheduled": 1, "staged": 2, "ready": 3, "joining": 3, "waiting_room": 4,
        "joined_not_recording": 5, "joined_recording": 5, "joined_recording_paused": 5, "leaving": 6,
        "post_processing": 7, "ended": 8, "fatal_error": 8, "data_deleted": 8}
LOCAL_FOR_REMOTE = {"ready": "joining", "data_deleted": "ended"}
# Service states from which POST /leave is accepted (staged and earlier: refused, like PATCH and DELETE after scheduled).
LEAVABLE = ("joining", "waiting_room", "joined_not_recording", "joined_recording", "joined_recording_paused")
DEFAULT_MEETING = timedelta(hours=1)  # a meeting's length when its event has no end
_rehearsing: ContextVar[bool] = ContextVar("bot_state_rehearsal", default=False)


def webhook_url() -> str:
    """Where the bot service sends its bots' state changes (registered on every bot we create)."""
    return current_app.config["PUBLIC_BASE_URL"] + ENDPOINT


@contextmanager
def rehearsal():
    """A dry run: state changes made inside are rolled back by the caller, so they are not logged
    as `bot_state_changed` (the dry run reports what it would do itself)."""
    token = _rehearsing.set(True)
    try:
        yield
    finally:
        _rehearsing.reset(token)


def change_state(bot: Bot, to: str, reason: str, at: datetime | None = None, source: str = "us") -> bool:
    """Move a bot to `to` and record why and who said so (`source`: webhook, poll or us). The caller
    commits (a new bot is added and flushed here, so that its id is known). False if it was there already."""
    if to not in BOT_STATES:
        raise ValueError(f"{to!r} is not a bot state")
    if source not in TRANSITION_SOURCES:
        raise ValueError(f"{source!r} is not a transition source")
    if bot.state == to:
        return False
    at, before = at or utcnow(), bot.state
    bot.transitions.append(BotTransition(from_state=before, to_state=to, reason=reason[:2000], at=at, source=source))
    bot.state, bot.state_reason, bot.state_changed_at = to, reason[:2000], at
    if not _rehearsing.get():
        if bot.id is None:  # a new bot: stored now, so that the log names it
            db.session.add(bot)
            db.session.flush()
        log_event("bot_state_changed", bot_id=bot.id, from_state=before, to_state=to, reason=reason[:200])
        if to == "ended" and bot.call_id is None:
            signals.send_after_commit(signals.bot_transcript_due, bot_id=bot.id)
    return True


def observe(bot: Bot, remote: dict | str, reason: str, at: datetime | None = None, now: datetime | None = None,
            source: str = "us") -> bool:
    """Record what the service says about the bot (in an answer to us, a poll or a webhook); True
    when our state changed."""
    state = remote.get("state") if isinstance(remote, dict) else remote
    bot.last_remote_at = now or utcnow()
    if state not in RANK or state in ("missed", "pending"):
        if state is not None:
            log_event("bot_unknown_remote_state", logging.WARNING, bot_id=bot.id, state=str(state)[:50])
        return False
    if bot.remote_state in RANK and RANK[state] < RANK[bot.remote_state]:
        return False
    bot.remote_state = state
    if bot.state == "cancelled":
        return False
    local = LOCAL_FOR_REMOTE.get(state, state)
    if bot.state == "missed" and RANK[local] <= RANK["staged"]:
        return False  # still not joining: it stays missed
    if RANK[local] < RANK.get(bot.state, 0):
        return False
    return change_state(bot, local, reason, at, source=source)


def meeting_end(bot: Bot) -> datetime:
    """When the bot's meeting should be over: its event's end, else join_at + DEFAULT_MEETING."""
    end = bot.event.end_at if bot.event is not None else None
    return end if end is not None and end > bot.join_at else bot.join_at + DEFAULT_MEETING


# --- webhooks ------------------------------------------------------------------------------------

def receive(headers: Mapping[str, str], body: bytes) -> intake.Answer:
    return intake.receive(SOURCE, ENDPOINT, headers, body, judge)


def reject_oversized(headers: Mapping[str, str], preview: bytes, size: int | None) -> intake.Answer:
    return intake.reject_oversized(SOURCE, ENDPOINT, headers, preview, size)


def signature(payload, key: bytes) -> str:
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).digest()).decode()


def judge(headers: Mapping[str, str], body: bytes) -> Verdict:
    secret = current_app.config.get("ATTENDEE_WEBHOOK_SECRET")
    if not secret:
        raise Rejected(503, "not_configured", "ATTENDEE_WEBHOOK_SECRET is not set, so bot webhooks cannot be verified")
    try:
        key = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        raise Rejected(503, "misconfigured", "ATTENDEE_WEBHOOK_SECRET is not base64 (copy it from Attendee's "
                                             "Settings → Webhooks page)") from None
    try:
        payload = jsonbody.loads(body)
        expected = signature(payload, key)
    except (jsonbody.JSONBodyError, ValueError, RecursionError):
        raise Rejected(401, "invalid_signature", "the body is not JSON Attendee could have signed",
                       signature_valid=False) from None
    given = headers.get(SIGNATURE_HEADER) or ""
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        raise Rejected(401, "invalid_signature", f"{SIGNATURE_HEADER} is missing or does not match the body",
                       signature_valid=False)
    key_value = payload.get("idempotency_key") if isinstance(payload, dict) else None
    if not isinstance(key_value, str) or not key_value.strip():
        raise Rejected(400, "not_a_bot_event", "a signed body without an idempotency_key is not an Attendee event",
                       signature_valid=True)
    return Verdict(webhook_id=key_value)


def process_delivery(delivery: WebhookDelivery) -> None:
    """Mirror a bot.state_change delivery onto our bot (other triggers are not used)."""
    payload = json.loads(delivery.body)
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    if payload.get("trigger") != "bot.state_change":
        return None
    bot = find_bot(payload.get("bot_id"), payload.get("bot_metadata"))
    if bot is None:
        if not _note_departure(payload.get("bot_id"), data.get("new_state")):
            log_event("bot_webhook_unknown_bot", bot=str(payload.get("bot_id"))[:64])
        return None
    event = str(data.get("event_type") or "state change")[:100]
    observe(bot, str(data.get("new_state") or ""), f"webhook: {event}", at=parse_instant(data.get("created_at")),
            source="webhook")
    return None  # the intake commits this with the delivery's outcome


def _note_departure(attendee_id, new_state) -> bool:
    """News of a service bot we let go of: the dispatcher's next look at it starts from there."""
    if not isinstance(attendee_id, str) or not isinstance(new_state, str) or new_state not in RANK:
        return False
    departure = db.session.scalars(select(BotDeparture).where(BotDeparture.attendee_id == attendee_id)).first()
    if departure is None:
        return False
    if departure.remote_state not in RANK or RANK[new_state] >= RANK[departure.remote_state]:
        departure.remote_state = new_state
    return True


def find_bot(attendee_id, metadata) -> Bot | None:
    """Our bot for a service bot id; one whose create answer was lost is recognised by its metadata."""
    if isinstance(attendee_id, str) and attendee_id:
        bot = db.session.scalars(select(Bot).where(Bot.attendee_id == attendee_id).with_for_update()
                                 .execution_options(populate_existing=True)).first()
        if bot is not None:
            return bot
    metadata = metadata if isinstance(metadata, dict) else {}
    try:
        bot = db.session.get(Bot, int(metadata.get("callvault_bot_id", "")))
    except (TypeError, ValueError):
        return None
    if bot is None or bot.attendee_id is not None or metadata.get("generation") != str(bot.generation) \
            or not isinstance(attendee_id, str) or not attendee_id:
        return None
    bot.attendee_id = attendee_id[:64]
    return bot
