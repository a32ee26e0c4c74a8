"""Housekeeping jobs."""
from .. import tracked_work
from . import job


@job
def recover_stalled_sync_jobs():
    """Every 5 minutes: fail tracked work (sync jobs, export bundles) no process works on any more.
    The name predates export bundles; the periodic job and callers know it by this name."""
    return tracked_work.recover_stalled()
