"""The output hub's outbox, its outgoing-webhook log, and users' zip exports."""
from ..extensions import db
from .tracked import TrackedWork, WorkStatus
from .types import UTCDateTime, utcnow

EXPORT_TARGETS = ("database", "webhook")
EXPORT_STATES = ("pending", "done", "failed")


class CallExport(db.Model):
    """What one target (the hub database or the outgoing webhook) should hold for one call.

    Written in the same transaction as the call (the outbox pattern): if Redis or the target
    is down the row stays pending or failed and the periodic retry picks it up, so nothing is lost.
    `fingerprint` is the call's content hash to deliver; `exported_fingerprint` the last one delivered.
    """

    __tablename__ = "call_exports"
    __table_args__ = (
        db.UniqueConstraint("call_id", "target"),
        db.Index("ix_call_exports_due", "status", "next_attempt_at"),
        db.Index("ix_call_exports_target_status", "target", "status"),  # the dashboard's per-target counts
        db.Index("ix_call_exports_status_attempted", "status", "last_attempt_at"),  # its newest failed exports
    )

    id = db.Column(db.Integer, primary_key=True)
    call_id = db.Column(db.Integer, db.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False)
    target = db.Column(db.String(16), nullable=False)
    status = db.Column(db.String(16), nullable=False, default="pending")
    fingerprint = db.Column(db.String(64))
    exported_fingerprint = db.Column(db.String(64))
    attempts = db.Column(db.Integer, nullable=False, default=0)  # failed attempts since the last success
    last_error = db.Column(db.Text)
    next_attempt_at = db.Column(UTCDateTime)
    locked_until = db.Column(UTCDateTime)  # lease held by the job exporting it right now
    last_attempt_at = db.Column(UTCDateTime)
    exported_at = db.Column(UTCDateTime)
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = db.Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    call = db.relationship("Call", backref=db.backref("exports", cascade="all, delete-orphan",
                                                      passive_deletes=True, order_by="CallExport.target"))


class OutgoingWebhook(db.Model):
    """One signed message to EXPORT_WEBHOOK_URL and what happened to it. No secrets, no query string."""

    __tablename__ = "outgoing_webhooks"
    __table_args__ = (db.Index("ix_outgoing_webhooks_created", "created_at", "id"),)

    id = db.Column(db.Integer, primary_key=True)
    message_id = db.Column(db.String(64), nullable=False, unique=True)  # the `webhook-id` header
    call_id = db.Column(db.Integer, db.ForeignKey("calls.id", ondelete="SET NULL"), index=True)
    event_type = db.Column(db.String(32), nullable=False)
    fingerprint = db.Column(db.String(64))
    endpoint = db.Column(db.String(500), nullable=False)
    status = db.Column(db.String(16), nullable=False, default="pending")  # pending | success | failed
    attempts = db.Column(db.Integer, nullable=False, default=0)
    response_code = db.Column(db.Integer)
    error = db.Column(db.Text)
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    last_attempt_at = db.Column(UTCDateTime)
    delivered_at = db.Column(UTCDateTime)


class ExportBundle(TrackedWork, db.Model):
    """A zip of one user's calls, built by a job; the bytes live in ExportBundleChunk rows so
    any web process can serve them (worker and web need not share a disk). Status, RQ job and
    heartbeat from TrackedWork."""

    __tablename__ = "export_bundles"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    formats = db.Column(db.JSON, nullable=False, default=list)
    total = db.Column(db.Integer, nullable=False, default=0)
    done = db.Column(db.Integer, nullable=False, default=0)
    size_bytes = db.Column(db.Integer)
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = db.Column(UTCDateTime)

    user = db.relationship("User")
    chunks = db.relationship("ExportBundleChunk", cascade="all, delete-orphan", passive_deletes=True,
                             order_by="ExportBundleChunk.seq", lazy="dynamic")

    @property
    def percent(self) -> int:
        if self.status == WorkStatus.SUCCEEDED:
            return 100
        return int(100 * self.done / self.total) if self.total else 0


class ExportBundleChunk(db.Model):
    __tablename__ = "export_bundle_chunks"

    bundle_id = db.Column(db.Integer, db.ForeignKey("export_bundles.id", ondelete="CASCADE"), primary_key=True)
    seq = db.Column(db.Integer, primary_key=True, autoincrement=False)
    data = db.Column(db.LargeBinary, nullable=False)
