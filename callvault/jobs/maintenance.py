"""Housekeeping jobs."""
from .. import tracked_work
from .declaration import job


@job(queue="sync")
def recover_stalled_work():
    """Every 30 seconds: resume or fail tracked work (sync jobs, export bundles) no process works on any more."""
    return tracked_work.recover_stalled()
