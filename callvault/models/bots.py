"""Recording bots: one per meeting, their recorded state changes, and who wants them.

A meeting is identified by its normalised URL plus its start time (`meeting_key`), so two
people's copies of one event share a bot while two meetings held in the same personal room on
one day get one each. The row holds what we *want* (meeting_url, join_at) next to what the bot
service was last told (`remote_*`): the dispatcher makes the service match the row.
"""
from ..extensions import db
from .types import UTCDateTime, utcnow

# Ours: pending (not yet at the service), cancelled, missed. The rest mirror Attendee's states.
BOT_STATES = ("pending", "scheduled", "staged", "joining", "waiting_room", "joined_not_recording",
              "joined_recording", "joined_recording_paused", "leaving", "post_processing", "ended",
              "fatal_error", "cancelled", "missed")
AUTO_RECORD_CHOICES = ("all", "external", "none")


class Bot(db.Model):
    __tablename__ = "bots"
    __table_args__ = (db.Index("ix_bots_state_join_at", "state", "join_at"),
                      # a day's bots (bot_stats: the dashboard's pipeline and calendar): (state, join_at) made
                      # a day's count read the whole index
                      db.Index("ix_bots_join_at", "join_at"),
                      # the dashboard's recent failures, newest first (bot_stats.missed): a scan of every bot without
                      db.Index("ix_bots_state_changed_at", "state_changed_at", "id"))

    id = db.Column(db.Integer, primary_key=True)
    # sha256 of URL + start; released (NULL) when the bot is cancelled, so the meeting can get another.
    meeting_key = db.Column(db.String(64), unique=True)
    meeting_url = db.Column(db.String(2048), nullable=False)
    join_at = db.Column(UTCDateTime, nullable=False)
    # The event that holds the meeting for us; another copy takes over when it goes.
    event_id = db.Column(db.Integer, db.ForeignKey("calendar_events.id", ondelete="SET NULL"), index=True)
    owner_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="SET NULL"), index=True)  # the event's
    title = db.Column(db.String(1000))
    state = db.Column(db.String(32), nullable=False, default="pending", index=True)
    state_reason = db.Column(db.Text)
    state_changed_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    # The bot at the service. A new one (generation + 1) replaces it when it cannot be changed.
    attendee_id = db.Column(db.String(64), unique=True)
    generation = db.Column(db.Integer, nullable=False, default=1)
    remote_state = db.Column(db.String(32))
    remote_join_at = db.Column(UTCDateTime)
    remote_meeting_url = db.Column(db.String(2048))
    last_remote_at = db.Column(UTCDateTime)  # last word from the service (answer, webhook or poll)
    last_error = db.Column(db.Text)
    # Someone asked for a bot in the meeting now ("Send a bot now", `flask bots send`): the next
    # dispatch sends one that joins at once, replacing a service bot that would join later.
    send_now_at = db.Column(UTCDateTime)
    # The vault's side: the bot's own call and a Fathom recording of the same meeting.
    call_id = db.Column(db.Integer, db.ForeignKey("calls.id", ondelete="SET NULL"))
    fathom_call_id = db.Column(db.Integer, db.ForeignKey("calls.id", ondelete="SET NULL"))
    transcript_attempts = db.Column(db.Integer, nullable=False, default=0)
    transcript_error = db.Column(db.Text)
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = db.Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    event = db.relationship("CalendarEvent")
    owner = db.relationship("User")
    transitions = db.relationship("BotTransition", back_populates="bot", cascade="all, delete-orphan",
                                  order_by="BotTransition.id")
    departures = db.relationship("BotDeparture", back_populates="bot", cascade="all, delete-orphan",
                                 order_by="BotDeparture.id")

    @property
    def deduplication_key(self) -> str:
        return f"callvault-bot-{self.id}-{self.generation}"


class BotTransition(db.Model):
    """Every state change of a bot, written by lifecycle.change_state and nothing else."""

    __tablename__ = "bot_transitions"
    __table_args__ = (db.Index("ix_bot_transitions_at", "at", "id"),)

    id = db.Column(db.Integer, primary_key=True)
    bot_id = db.Column(db.Integer, db.ForeignKey("bots.id", ondelete="CASCADE"), nullable=False, index=True)
    from_state = db.Column(db.String(32))
    to_state = db.Column(db.String(32), nullable=False)
    reason = db.Column(db.Text, nullable=False)
    # Who told us: a webhook, a poll of the service, or us (a calendar change, a person, the dispatcher).
    source = db.Column(db.String(16))
    at = db.Column(UTCDateTime, nullable=False, default=utcnow)

    bot = db.relationship("Bot", back_populates="transitions")


TRANSITION_SOURCES = ("webhook", "poll", "us")


class BotDeparture(db.Model):
    """A service bot we let go of (its meeting was cancelled or moved, or it was given up) that must
    not stay in a meeting: deleted while `scheduled`, asked to leave from `joining` on, and waited
    for while `staged` (the service refuses both then). One row per service bot; the dispatcher
    retries it until the service confirms or the bot has ended."""

    __tablename__ = "bot_departures"

    id = db.Column(db.Integer, primary_key=True)
    bot_id = db.Column(db.Integer, db.ForeignKey("bots.id", ondelete="CASCADE"), nullable=False, index=True)
    attendee_id = db.Column(db.String(64), nullable=False, unique=True)
    reason = db.Column(db.Text, nullable=False)
    remote_state = db.Column(db.String(32))
    outcome = db.Column(db.String(32))  # deleted | left | ended | gone | given_up; NULL while still to do
    attempts = db.Column(db.Integer, nullable=False, default=0)
    last_error = db.Column(db.Text)
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    done_at = db.Column(UTCDateTime, index=True)

    bot = db.relationship("Bot", back_populates="departures")


class BotEventChoice(db.Model):
    """An owner's word on one meeting, over their auto-record setting: `skip` it, or `record` it
    (a bot sent by hand)."""

    __tablename__ = "bot_event_choices"

    id = db.Column(db.Integer, primary_key=True)
    event_id = db.Column(db.Integer, db.ForeignKey("calendar_events.id", ondelete="CASCADE"), nullable=False,
                         unique=True)
    choice = db.Column(db.String(16), nullable=False)  # record | skip
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="SET NULL"))  # who chose
    updated_at = db.Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class BotPreference(db.Model):
    """A user's auto-record choice. No row: all their meetings with a link are recorded."""

    __tablename__ = "bot_preferences"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, unique=True)
    auto_record = db.Column(db.String(16), nullable=False, default="all")  # all | external | none
    updated_at = db.Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
