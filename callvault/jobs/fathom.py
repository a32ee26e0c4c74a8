"""Fathom background jobs (queue `sync`)."""
from ..fathom import sync
from . import job


@job
def run_fathom_sync(sync_job_id: int) -> str | None:
    finished = sync.run_sync(sync_job_id)
    return finished.status if finished else None
