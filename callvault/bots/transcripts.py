"""An ended bot becomes a call in the vault (source `bot`), linked to a Fathom recording of the same meeting.

The transcript comes from GET /api/v1/bots/{id}/transcript: utterances with `speaker_name`,
`timestamp_ms` (epoch milliseconds), `duration_ms` and `transcription.transcript`. Participants
come from the calendar event's attendees. `upsert_call` records the exports, which run once the
transaction commits. A failed fetch is retried by the dispatcher, with backoff.
"""
import logging
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..calls.store import CallData, ParticipantData, SegmentData, upsert_call
from ..extensions import db
from ..logs import log_event
from ..models import Bot, BotTransition, Call, Participant, User
from .client import AttendeeClient, AttendeeError, AttendeeNotConfigured
from .service import client_from_config

FATHOM_MATCH_WINDOW = timedelta(minutes=20)


def fetch(bot_id: int, client: AttendeeClient | None = None) -> Call | None:
    """Store an ended bot's transcript as a call, once."""
    if client is None:
        try:
            with client_from_config() as client:
                return fetch(bot_id, client)
        except AttendeeNotConfigured as exc:
            log_event("bot_transcript_not_configured", logging.WARNING, bot_id=bot_id, message=str(exc))
            return None
    bot = db.session.get(Bot, bot_id)
    if bot is None or bot.state != "ended" or not bot.attendee_id:
        return None
    if bot.call_id is not None:  # fetched already (the webhook and the dispatcher may both ask)
        return db.session.get(Call, bot.call_id)
    owner = db.session.get(User, bot.owner_id) if bot.owner_id else None
    if owner is None:
        bot.transcript_error = "the meeting's owner no longer exists, so the transcript has nowhere to go"
        bot.transcript_attempts += 1
        db.session.commit()
        return None
    try:
        utterances = client.transcript(bot.attendee_id)
    except AttendeeError as exc:
        bot.transcript_attempts += 1
        bot.transcript_error = str(exc)[:2000]
        db.session.commit()
        log_event("bot_transcript_failed", logging.WARNING, bot_id=bot.id, message=str(exc))
        return None
    call = upsert_call(owner, call_data(bot, owner, utterances), commit=False).call
    bot.call_id, bot.transcript_error = call.id, None
    bot.transcript_attempts += 1
    link_fathom(bot)
    db.session.commit()
    log_event("bot_transcript_stored", bot_id=bot.id, call_id=call.id, utterances=len(utterances))
    return call


def call_data(bot: Bot, owner: User, utterances: list[dict]) -> CallData:
    joined = _transition_at(bot, ("joined_recording", "joined_not_recording"))
    ended = _transition_at(bot, ("post_processing", "ended"))
    spoken = sorted((u for u in utterances if isinstance(u.get("timestamp_ms"), int)), key=lambda u: u["timestamp_ms"])
    first_ms = spoken[0]["timestamp_ms"] if spoken else None
    started = joined or bot.join_at
    if first_ms is not None:
        started = min(started, datetime.fromtimestamp(first_ms / 1000, tz=timezone.utc))
    base_ms = int(started.timestamp() * 1000)
    segments = []
    for u in spoken:
        text = (u.get("transcription") or {}).get("transcript") if isinstance(u.get("transcription"), dict) else None
        if not isinstance(text, str) or not text.strip():
            continue
        start_ms = max(0, u["timestamp_ms"] - base_ms)
        duration = u.get("duration_ms") if isinstance(u.get("duration_ms"), int) else 0
        speaker = u.get("speaker_name") if isinstance(u.get("speaker_name"), str) else None
        segments.append(SegmentData(speaker=(speaker or "Unknown speaker")[:200], text=text.replace("\x00", ""),
                                    start_ms=start_ms, end_ms=start_ms + max(0, duration)))
    last_end = max((s.end_ms for s in segments), default=0)
    ended_at = ended or (started + timedelta(milliseconds=last_end) if segments else None)
    return CallData(source="bot", external_id=bot.attendee_id, title=bot.title or "Recorded meeting",
                    started_at=started, ended_at=ended_at, recorded_by_name=owner.display_name,
                    recorded_by_email=owner.email, recording_url=bot.meeting_url,
                    participants=_participants(bot, owner), segments=segments)


def _participants(bot: Bot, owner: User) -> list[ParticipantData]:
    event = bot.event
    if event is None:
        return [ParticipantData(name=owner.display_name, email=owner.email, is_external=False)]
    own_domains = {event.calendar.account_email.rsplit("@", 1)[-1], owner.email.rsplit("@", 1)[-1]}
    people = []
    for attendee in event.attendees or []:
        email = attendee.get("email") if isinstance(attendee, dict) else None
        if not email:
            continue
        people.append(ParticipantData(name=(attendee.get("name") or None), email=email,
                                      is_external=email.rsplit("@", 1)[-1] not in own_domains,
                                      is_organizer=email == event.organizer_email))
    return people


def link_fathom(bot: Bot) -> Call | None:
    """The Fathom call of the same meeting: started near join_at, with a shared participant or owner."""
    if bot.fathom_call_id or bot.call_id is None:
        return None
    emails = {bot.owner.email} if bot.owner else set()
    if bot.event is not None:
        emails |= {a.get("email") for a in bot.event.attendees or [] if isinstance(a, dict) and a.get("email")}
    candidates = db.session.scalars(select(Call).where(
        Call.source == "fathom", Call.started_at >= bot.join_at - FATHOM_MATCH_WINDOW,
        Call.started_at <= bot.join_at + FATHOM_MATCH_WINDOW).order_by(Call.started_at, Call.id)).all()
    people = defaultdict(set)  # every candidate's participants, in one query
    if candidates:
        for call_id, email in db.session.execute(select(Participant.call_id, Participant.email).where(
                Participant.call_id.in_([call.id for call in candidates]))):
            people[call_id].add(email)
    for call in candidates:
        if call.owner_id == bot.owner_id or (people[call.id] | {call.recorded_by_email}) & emails:
            bot.fathom_call_id = call.id
            log_event("bot_linked_to_fathom", bot_id=bot.id, call_id=bot.call_id, fathom_call_id=call.id)
            return call
    return None


def link_recent(now: datetime) -> int:
    """Fathom recordings often arrive after the bot's transcript: link those of the last two days."""
    bots = db.session.scalars(select(Bot).where(Bot.call_id.is_not(None), Bot.fathom_call_id.is_(None),
                                                Bot.join_at >= now - timedelta(days=2))
                              .options(selectinload(Bot.owner), selectinload(Bot.event)))
    linked = sum(1 for bot in bots if link_fathom(bot) is not None)
    db.session.commit()
    return linked


def _transition_at(bot: Bot, states: tuple) -> datetime | None:
    return db.session.scalar(select(BotTransition.at).where(BotTransition.bot_id == bot.id,
                                                            BotTransition.to_state.in_(states))
                             .order_by(BotTransition.id).limit(1))
