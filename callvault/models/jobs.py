"""Background sync jobs and their per-meeting outcomes."""
from ..extensions import db
from .tracked import TrackedWork
from .types import UTCDateTime, utcnow


class SyncJob(TrackedWork, db.Model):
    """One sync of a user's meetings from a source; status, RQ job and heartbeat from TrackedWork."""

    __tablename__ = "sync_jobs"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    source = db.Column(db.String(16), nullable=False, default="fathom")
    params = db.Column(db.JSON, nullable=False, default=dict)
    total = db.Column(db.Integer, nullable=False, default=0)
    done = db.Column(db.Integer, nullable=False, default=0)
    failed = db.Column(db.Integer, nullable=False, default=0)
    current_item = db.Column(db.String(500))
    cancel_requested = db.Column(db.Boolean, nullable=False, default=False)
    # False while the job is still listing the source, so `total` may yet grow.
    listing_done = db.Column(db.Boolean, nullable=False, default=True)
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)

    user = db.relationship("User")
    items = db.relationship("SyncJobItem", back_populates="job", cascade="all, delete-orphan",
                            order_by="SyncJobItem.id")


class SyncJobItem(db.Model):
    __tablename__ = "sync_job_items"
    __table_args__ = (db.UniqueConstraint("sync_job_id", "external_id"),)

    id = db.Column(db.Integer, primary_key=True)
    sync_job_id = db.Column(db.Integer, db.ForeignKey("sync_jobs.id", ondelete="CASCADE"), nullable=False)
    external_id = db.Column(db.String(128), nullable=False)
    title = db.Column(db.String(500))
    status = db.Column(db.String(16), nullable=False, default="pending")  # pending | done | failed
    error = db.Column(db.Text)
    call_id = db.Column(db.Integer, db.ForeignKey("calls.id", ondelete="SET NULL"))
    finished_at = db.Column(UTCDateTime)

    job = db.relationship("SyncJob", back_populates="items")
