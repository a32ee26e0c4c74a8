"""Fathom background jobs (queue `sync`)."""
from .. import signals
from ..fathom import sync
from .declaration import job


@job(queue="sync", timeout=sync.JOB_TIMEOUT_SECONDS)
def run_fathom_sync(sync_job_id: int) -> str | None:
    finished = sync.run_sync(sync_job_id)
    return finished.status if finished else None


def _queue_sync(_sender, sync_job_id: int):
    return run_fathom_sync.enqueue(sync_job_id)


def connect() -> None:
    signals.fathom_sync_requested.connect(_queue_sync)
