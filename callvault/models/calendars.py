"""Calendars: provider credentials, the calendars we sync, their events and push channels.

A calendar is unique by its deduplication key (`{email}-google-sa`, `{email}-google-oauth`,
`{email}-microsoft-oauth`). Service-account calendars have no stored credential: their tokens are
minted from GOOGLE_SERVICE_ACCOUNT_JSON on demand.
"""
from ..crypto import EncryptedField
from ..extensions import db
from .types import UTCDateTime, utcnow


class CalendarCredential(db.Model):
    """One provider account's OAuth tokens (encrypted). Microsoft rotates the refresh token."""

    __tablename__ = "calendar_credentials"
    __table_args__ = (db.UniqueConstraint("provider", "account_email"),)

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    provider = db.Column(db.String(16), nullable=False)         # google | microsoft
    account_email = db.Column(db.String(320), nullable=False)  # lower-case
    access_token_encrypted = db.Column(db.Text)
    refresh_token_encrypted = db.Column(db.Text)
    token_expires_at = db.Column(UTCDateTime)
    scopes = db.Column(db.Text)
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = db.Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    access_token = EncryptedField()
    refresh_token = EncryptedField()


class Calendar(db.Model):
    __tablename__ = "calendars"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    credential_id = db.Column(db.Integer, db.ForeignKey("calendar_credentials.id", ondelete="SET NULL"))
    provider = db.Column(db.String(16), nullable=False)        # google | microsoft
    auth_method = db.Column(db.String(24), nullable=False)     # oauth | service_account
    account_email = db.Column(db.String(320), nullable=False)  # the provider account, lower-case
    deduplication_key = db.Column(db.String(400), nullable=False, unique=True)
    state = db.Column(db.String(16), nullable=False, default="connected", index=True)  # connected | disconnected
    disconnected_reason = db.Column(db.Text)
    disconnected_at = db.Column(UTCDateTime)
    # Google's nextSyncToken or Microsoft's @odata.deltaLink; None means the next sync is a full one.
    sync_cursor = db.Column(db.Text)
    full_synced_at = db.Column(UTCDateTime)
    last_synced_at = db.Column(UTCDateTime)      # last successful sync
    last_sync_attempt_at = db.Column(UTCDateTime)
    last_error = db.Column(db.Text)              # why the last sync failed; cleared by a success
    push_error = db.Column(db.Text)              # why push notifications are not set up
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = db.Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    user = db.relationship("User", backref=db.backref("calendars", cascade="all, delete-orphan",
                                                      order_by="Calendar.id"))
    credential = db.relationship("CalendarCredential")
    channels = db.relationship("WatchChannel", back_populates="calendar", cascade="all, delete-orphan",
                               order_by="WatchChannel.id")

    @property
    def is_connected(self) -> bool:
        return self.state == "connected"

    @property
    def active_channel(self) -> "WatchChannel | None":
        return next((c for c in reversed(self.channels) if c.state == "active"), None)

    @property
    def label(self) -> str:
        how = "service account" if self.auth_method == "service_account" else "OAuth"
        return f"{self.provider.capitalize()} · {self.account_email} ({how})"


class CalendarEvent(db.Model):
    """One event (or one occurrence of a series) as the provider last described it.

    Bots find their meeting by (meeting_url, start_at), hence the index.
    """

    __tablename__ = "calendar_events"
    __table_args__ = (db.UniqueConstraint("calendar_id", "provider_event_id"),
                      db.Index("ix_calendar_events_meeting_url_start_at", "meeting_url", "start_at"))

    id = db.Column(db.Integer, primary_key=True)
    calendar_id = db.Column(db.Integer, db.ForeignKey("calendars.id", ondelete="CASCADE"), nullable=False)
    provider_event_id = db.Column(db.String(1024), nullable=False)
    ical_uid = db.Column(db.String(1024))
    series_id = db.Column(db.String(1024))  # the recurring series this occurrence belongs to
    title = db.Column(db.String(1000))
    start_at = db.Column(UTCDateTime, index=True)
    end_at = db.Column(UTCDateTime)
    is_all_day = db.Column(db.Boolean, nullable=False, default=False)
    organizer_email = db.Column(db.String(320))
    attendees = db.Column(db.JSON, nullable=False, default=list)  # [{email, name, response}]
    meeting_url = db.Column(db.String(2048))  # normalised, see calendars/meeting_urls.py
    meeting_platform = db.Column(db.String(32))
    is_cancelled = db.Column(db.Boolean, nullable=False, default=False)
    is_deleted = db.Column(db.Boolean, nullable=False, default=False)
    raw = db.Column(db.JSON)
    provider_updated_at = db.Column(UTCDateTime)
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = db.Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    calendar = db.relationship("Calendar")


class WatchChannel(db.Model):
    """A Google watch channel or a Microsoft Graph subscription for one calendar.

    `channel_id` is our Google channel id or Graph's subscription id; `token` is the per-channel
    secret Google echoes (X-Goog-Channel-Token) or the Graph clientState.
    """

    __tablename__ = "watch_channels"

    id = db.Column(db.Integer, primary_key=True)
    calendar_id = db.Column(db.Integer, db.ForeignKey("calendars.id", ondelete="CASCADE"), nullable=False,
                            index=True)
    provider = db.Column(db.String(16), nullable=False)
    channel_id = db.Column(db.String(200), nullable=False, unique=True)
    resource_id = db.Column(db.String(300))  # Google's opaque resourceId, needed to stop the channel
    token_encrypted = db.Column(db.Text, nullable=False)
    expires_at = db.Column(UTCDateTime, nullable=False, index=True)
    state = db.Column(db.String(16), nullable=False, default="active")  # active | stopped
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    renewed_at = db.Column(UTCDateTime)
    stopped_at = db.Column(UTCDateTime)
    last_notification_at = db.Column(UTCDateTime)

    token = EncryptedField()

    calendar = db.relationship("Calendar", back_populates="channels")
