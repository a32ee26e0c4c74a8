"""The vault: calls, who was in them, what was said, and what was agreed."""
from ..extensions import db
from .types import UTCDateTime, utcnow

SOURCES = ("fathom", "bot")


class Call(db.Model):
    """One recorded meeting from one source, unique by (source, external_id).

    `external_id` is the source's id as text: Fathom sends recording ids as ints in some places
    and strings in others, and text compares the same both ways.
    """

    __tablename__ = "calls"
    __table_args__ = (
        db.UniqueConstraint("source", "external_id"),
        db.Index("ix_calls_owner_started", "owner_id", "started_at", "id"),
        db.Index("ix_calls_started", "started_at", "id"),
    )

    id = db.Column(db.Integer, primary_key=True)
    owner_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    source = db.Column(db.String(16), nullable=False)
    external_id = db.Column(db.String(128), nullable=False)
    title = db.Column(db.String(500), nullable=False, default="Untitled meeting")
    started_at = db.Column(UTCDateTime, nullable=False)
    ended_at = db.Column(UTCDateTime)
    recorded_by_name = db.Column(db.String(200))
    recorded_by_email = db.Column(db.String(320))
    recording_url = db.Column(db.String(2000))
    share_url = db.Column(db.String(2000))
    language = db.Column(db.String(16))
    summary_markdown = db.Column(db.Text)
    # Fingerprint of the source's content at the last write: tells "changed since sync".
    content_hash = db.Column(db.String(64))
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = db.Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    owner = db.relationship("User")
    participants = db.relationship("Participant", back_populates="call", cascade="all, delete-orphan",
                                   order_by="Participant.position")
    segments = db.relationship("TranscriptSegment", back_populates="call", cascade="all, delete-orphan",
                               order_by="TranscriptSegment.position", lazy="dynamic")
    action_items = db.relationship("ActionItem", back_populates="call", cascade="all, delete-orphan",
                                   order_by="ActionItem.position")

    @property
    def duration_seconds(self) -> int | None:
        if self.ended_at is None:
            return None
        return max(0, int((self.ended_at - self.started_at).total_seconds()))


class Participant(db.Model):
    __tablename__ = "participants"

    id = db.Column(db.Integer, primary_key=True)
    call_id = db.Column(db.Integer, db.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False, index=True)
    position = db.Column(db.Integer, nullable=False, default=0)
    name = db.Column(db.String(200))
    email = db.Column(db.String(320))
    is_external = db.Column(db.Boolean)
    is_organizer = db.Column(db.Boolean, nullable=False, default=False)

    call = db.relationship("Call", back_populates="participants")


class TranscriptSegment(db.Model):
    __tablename__ = "transcript_segments"
    __table_args__ = (db.UniqueConstraint("call_id", "position"),)

    id = db.Column(db.Integer, primary_key=True)
    call_id = db.Column(db.Integer, db.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False)
    position = db.Column(db.Integer, nullable=False)
    speaker = db.Column(db.String(200))
    speaker_email = db.Column(db.String(320))
    text = db.Column(db.Text, nullable=False, default="")
    start_ms = db.Column(db.Integer, nullable=False, default=0)
    end_ms = db.Column(db.Integer)

    call = db.relationship("Call", back_populates="segments")


class ActionItem(db.Model):
    __tablename__ = "action_items"

    id = db.Column(db.Integer, primary_key=True)
    call_id = db.Column(db.Integer, db.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False, index=True)
    position = db.Column(db.Integer, nullable=False, default=0)
    description = db.Column(db.Text, nullable=False)
    assignee_name = db.Column(db.String(200))
    assignee_email = db.Column(db.String(320))
    completed = db.Column(db.Boolean, nullable=False, default=False)
    timestamp_ms = db.Column(db.Integer)

    call = db.relationship("Call", back_populates="action_items")
