"""Housekeeping jobs."""
from .. import sync_jobs
from .declaration import job


@job(queue="sync")
def recover_stalled_sync_jobs():
    return sync_jobs.recover_stalled()

