"""Sync-job bookkeeping shared by every source."""
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from .extensions import db
from .logs import log_event
from .models import SyncJob, utcnow
from .queues import get_redis

_LOST = {JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}


def recover_stalled() -> int:
    """Fail sync jobs whose RQ job is gone or dead, so none shows "running" forever."""
    recovered = 0
    for sync_job in SyncJob.query.filter(SyncJob.status.in_(("queued", "running"))):
        if not sync_job.rq_job_id:
            continue
        try:
            status = Job.fetch(sync_job.rq_job_id, connection=get_redis()).get_status(refresh=True)
        except NoSuchJobError:
            status = None
        if status is None or status in _LOST:
            sync_job.status = "failed"
            sync_job.error = f"the background job was lost ({status or 'no longer in Redis'}); retry it"
            sync_job.finished_at = utcnow()
            recovered += 1
            log_event("sync_job_recovered", sync_job_id=sync_job.id, rq_status=str(status))
    db.session.commit()
    return recovered
