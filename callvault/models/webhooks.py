"""Every incoming webhook request is logged here before it is judged."""
from ..extensions import db
from .types import UTCDateTime, utcnow

DELIVERY_STATES = ("pending", "success", "failed", "duplicate", "rejected")


class WebhookDelivery(db.Model):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (db.Index("ix_webhook_deliveries_received", "received_at", "id"),
                      db.Index("ix_webhook_deliveries_source_status", "source", "status"))  # dashboard counts

    id = db.Column(db.Integer, primary_key=True)
    # The intake's id for the request (uuid4 hex), sent back as X-Webhook-Receipt: recording an inbox
    # entry twice (after a crash) finds its row instead of making another.
    receipt = db.Column(db.String(32), unique=True)
    received_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    source = db.Column(db.String(32), nullable=False)          # fathom | attendee | ...
    endpoint = db.Column(db.String(200), nullable=False)       # the path, without secrets
    webhook_id = db.Column(db.String(200), index=True)
    status = db.Column(db.String(16), nullable=False, default="pending", index=True)
    signature_valid = db.Column(db.Boolean)
    error_message = db.Column(db.Text)
    headers = db.Column(db.JSON, nullable=False, default=dict)  # redacted
    body = db.Column(db.Text)                                    # capped at body_cap bytes
    body_size = db.Column(db.Integer, nullable=False, default=0)
    body_cap = db.Column(db.Integer, nullable=False, default=0)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="SET NULL"))
    call_id = db.Column(db.Integer, db.ForeignKey("calls.id", ondelete="SET NULL"))
    attempts = db.Column(db.Integer, nullable=False, default=0)
    processed_at = db.Column(UTCDateTime)

    @property
    def body_truncated(self) -> bool:
        return self.body_size > self.body_cap


class ProcessedWebhook(db.Model):
    """Claim on a webhook id: the unique constraint makes "process once" hold across processes."""

    __tablename__ = "processed_webhooks"
    __table_args__ = (db.UniqueConstraint("source", "webhook_id"),)

    id = db.Column(db.Integer, primary_key=True)
    source = db.Column(db.String(32), nullable=False)
    webhook_id = db.Column(db.String(200), nullable=False)
    delivery_id = db.Column(db.Integer, db.ForeignKey("webhook_deliveries.id", ondelete="SET NULL"))
    claimed_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
