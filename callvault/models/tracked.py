"""Tracked background work: the columns shared by every table whose rows a person waits on.

A row is written `queued` before its RQ job is enqueued, becomes `running` when a job claims it,
heartbeats while it works, and ends `succeeded`, `failed` or `cancelled`. The lifecycle (claim,
heartbeat, finish, recovery of rows no process works on) lives in `callvault/tracked_work.py`.
"""
import enum
from datetime import timedelta

from sqlalchemy.orm import declared_attr

from ..extensions import db
from .types import UTCDateTime


class WorkStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


# The start of the message of work given up after its worker died again and again: the dashboard
# lists those apart from ordinary failures.
GAVE_UP = "gave up: "

WORK_STATES = tuple(status.value for status in WorkStatus)
ACTIVE_STATES = (WorkStatus.QUEUED, WorkStatus.RUNNING)  # something to wait for: the page polls
FINAL_STATES = (WorkStatus.SUCCEEDED, WorkStatus.FAILED, WorkStatus.CANCELLED)


def _values(enum_class) -> list[str]:
    return [member.value for member in enum_class]


class TrackedWork:
    """Mixin for a table of background work. Status is one enum for every such table, stored as
    its value in a VARCHAR with a CHECK constraint (`ck_<table>_work_status`), so both backends
    refuse a name outside the vocabulary."""

    # A running row with no heartbeat for this long is given up by recovery.
    heartbeat_timeout = timedelta(minutes=30)

    @declared_attr
    def status(cls):
        return db.Column(db.Enum(WorkStatus, name="work_status", native_enum=False, length=16,
                                 create_constraint=True, validate_strings=True, values_callable=_values),
                         nullable=False, default=WorkStatus.QUEUED, index=True)

    rq_job_id = db.Column(db.String(64))
    error = db.Column(db.Text)  # shown to the person as written
    started_at = db.Column(UTCDateTime)
    heartbeat_at = db.Column(UTCDateTime)  # the job's last sign of life
    finished_at = db.Column(UTCDateTime)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATES
