"""The lifecycle of tracked background work: every row a person waits on (sync jobs, export bundles).

Order of operations, and why it keeps a page from spinning forever:

1. The caller writes the row `queued` and commits, then enqueues the RQ job and stores its id
   (`rq_job_id`). The row exists before the job can run, so the job always finds it.
2. The job claims the row (`claim`): queued → running, a compare-and-set. A row cancelled while it
   waited is left alone, and two runs of one job cannot both work on it.
3. While it works the job heartbeats (`heartbeat`), again only while the row is `running`. If
   recovery has given the row up meanwhile, the heartbeat raises `WorkLost` and the job stops
   rather than writing over what the page already shows.
4. The job ends the row (`finish`): only an active row changes, so a final status is final.
5. `recover_stalled` (periodic, every 30 s, and safe to run any time) first has RQ release the
   jobs of workers that died (`queues.release_abandoned_jobs`: a worker renews its lease every
   WORKER_HEARTBEAT_SECONDS, so a dead one is noticed within about half a minute). A row whose
   job was abandoned that way is *resumed* if its model registered a resumer (`register_resumer`;
   a Fathom sync continues with the meetings not yet done), up to the resumer's own limit. Every
   other active row that no process works on is failed: its RQ job is gone, failed, stopped,
   finished without ending the row, or abandoned with no resumer; or the row is running without a
   heartbeat for its model's `heartbeat_timeout` (a hung job, or one run outside RQ by a process
   that died). The row gets a message the page shows and the page stops polling.
"""
from datetime import datetime
from typing import Callable

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import func, inspect, select, update

from .extensions import db
from .logs import log_event
from .models import ACTIVE_STATES, GAVE_UP, ExportBundle, SyncJob, WorkStatus, utcnow
from .queues import get_redis, release_abandoned_jobs, was_abandoned

# Every table of tracked work; recovery covers each of them.
TRACKED_MODELS = (SyncJob, ExportBundle)

WORKER_DIED = "its worker stopped"

# A resumer queues a row's work again after its worker died (the row is back to `queued` and
# committed when it is called); it returns False when the row has been resumed often enough.
Resumer = Callable[[object], bool]
_resumers: dict[type, Resumer] = {}


def register_resumer(model: type, resumer: Resumer) -> None:
    _resumers[model] = resumer


_WHY_LOST = {
    JobStatus.FAILED: "it failed in the worker",
    JobStatus.STOPPED: "it was stopped",
    JobStatus.CANCELED: "it was cancelled in the queue",
    JobStatus.FINISHED: "it ended without saving its outcome",
}


class WorkLost(Exception):
    """The row is no longer running (recovery gave it up): the job working on it must stop."""


def _set_if(row, states, **values) -> bool:
    """Write `values` to the row if its status is one of `states`; whether it was. No commit."""
    model, (row_id,) = type(row), inspect(row).identity  # the id without reloading an expired row
    result = db.session.execute(update(model).where(model.id == row_id, model.status.in_(states))
                                .values(**values).execution_options(synchronize_session="fetch"))
    return result.rowcount == 1


def claim(row, **values) -> bool:
    """queued → running, with `values`; False (nothing written) if the row was not queued. Commits."""
    now = utcnow()
    model = type(row)  # a resumed row keeps its first start
    claimed = _set_if(row, (WorkStatus.QUEUED,), status=WorkStatus.RUNNING,
                      started_at=func.coalesce(model.started_at, now), heartbeat_at=now, error=None, **values)
    db.session.commit()
    return claimed


def heartbeat(row, **values) -> None:
    """A sign of life (with progress `values`) from the job running the row. Raises WorkLost if the
    row is no longer running. Does not commit: it joins the caller's transaction."""
    if not _set_if(row, (WorkStatus.RUNNING,), heartbeat_at=utcnow(), **values):
        raise WorkLost(f"{row.__tablename__} #{inspect(row).identity[0]} is no longer running")


def finish(row, status: WorkStatus, error: str | None = None, from_states=ACTIVE_STATES, **values) -> bool:
    """An active row's final status (with an error message for the page, and `values`); False if the
    row had already ended (or was not in `from_states`). Commits."""
    finished = _set_if(row, from_states, status=status, error=error, finished_at=utcnow(), **values)
    db.session.commit()
    return finished


def fail(row, error: str, **values) -> bool:
    return finish(row, WorkStatus.FAILED, error, **values)


# --- recovery ------------------------------------------------------------------------------------

def duration_seconds(row) -> int | None:
    """Whole seconds the row's work ran (so far, while it runs); None before it started."""
    if row.started_at is None:
        return None
    end = row.finished_at or (utcnow() if row.status == WorkStatus.RUNNING else row.heartbeat_at) or row.started_at
    return max(0, int((end - row.started_at).total_seconds()))


def recover_stalled(now: datetime | None = None) -> int:
    """Resume or fail the active rows of every tracked table that nothing works on any more; how many."""
    now = now or utcnow()
    connection = get_redis()
    release_abandoned_jobs(connection, at=now.timestamp())
    recovered = 0
    for model in TRACKED_MODELS:
        for row in db.session.scalars(select(model).where(model.status.in_(ACTIVE_STATES))).all():
            why = _why_stalled(row, connection, now)
            if not why:
                continue
            if why == WORKER_DIED and model in _resumers:
                outcome = _resume(row)
                if outcome is None:
                    recovered += 1
                    continue
                why = outcome
            if fail(row, why if why.startswith(GAVE_UP) else
                    f"the background job stopped before it finished ({why}); try again"):
                recovered += 1
                log_event("tracked_work_recovered", table=model.__tablename__, row_id=row.id, why=why)
    return recovered


def _resume(row) -> str | None:
    """Put a running row whose worker died back to queued and have its resumer queue it again.
    None when it was, else why not (the message to fail it with)."""
    model = type(row)
    if not _set_if(row, (WorkStatus.RUNNING,), status=WorkStatus.QUEUED, heartbeat_at=None):
        db.session.rollback()
        return WORKER_DIED
    db.session.commit()
    try:
        resumed = _resumers[model](row)
    except redis.RedisError:
        db.session.rollback()
        return f"{WORKER_DIED}, and the job queue (Redis) could not be reached to resume it"
    if not resumed:
        return (f"{GAVE_UP}its worker stopped every time it ran (killed, or out of memory); "
                "what it finished is kept; try again")
    log_event("tracked_work_resumed", table=model.__tablename__, row_id=row.id)
    return None


def _why_stalled(row, connection, now: datetime) -> str | None:
    if row.rq_job_id:
        try:
            job = Job.fetch(row.rq_job_id, connection=connection)
        except NoSuchJobError:
            return "it is no longer in the job queue"
        status = job.get_status(refresh=False)
        if was_abandoned(job):  # released by release_abandoned_jobs, or by a worker's maintenance
            return WORKER_DIED
        if status in _WHY_LOST:
            return _WHY_LOST[status]
    elif row.status == WorkStatus.QUEUED and row.created_at < now - row.heartbeat_timeout:
        return "it never started"  # its process died between writing the row and running it
    last_sign = row.heartbeat_at or row.started_at
    if row.status == WorkStatus.RUNNING and last_sign and last_sign < now - row.heartbeat_timeout:
        return f"no progress for {int(row.heartbeat_timeout.total_seconds() // 60)} minutes"
    return None
