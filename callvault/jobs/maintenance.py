"""Housekeeping jobs."""
from .. import sync_jobs
from . import job


@job
def recover_stalled_sync_jobs():
    return sync_jobs.recover_stalled()
