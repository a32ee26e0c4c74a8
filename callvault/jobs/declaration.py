"""The declaration of a background job (@job) and of a periodic one; see the package docstring."""
import functools
import logging
import os
import time
from dataclasses import dataclass

import redis
from flask import current_app, has_app_context
from rq import Queue, Retry, get_current_job
from rq.job import Job, JobStatus

from ..logs import log_event
from ..queues import enqueue, get_queue, get_redis

LIVE_STATES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}

_worker_app = None
_worker_app_pid = None


def set_worker_app(app) -> None:
    global _worker_app, _worker_app_pid
    _worker_app, _worker_app_pid = app, os.getpid()


def _app_for_job():
    global _worker_app_pid
    if has_app_context():
        return current_app._get_current_object()
    if _worker_app is None:
        from .. import create_app
        set_worker_app(create_app())
    if _worker_app_pid != os.getpid():
        from ..extensions import db
        with _worker_app.app_context():
            db.engine.dispose(close=False)
        _worker_app_pid = os.getpid()
    return _worker_app


class DeclaredJob:
    """A background job as declared with @job. Calling it runs the job (that is what RQ does);
    `enqueue` puts it on its queue."""

    def __init__(self, func, queue: str, timeout: int, retry: Retry | None):
        functools.update_wrapper(self, func)
        self.func, self.queue, self.timeout, self.retry = func, queue, timeout, retry
        self.target = f"{func.__module__}.{func.__name__}"  # what RQ imports in the worker

    def __call__(self, *args, **kwargs):
        with _app_for_job().app_context():
            rq_job = get_current_job()
            started = time.monotonic()
            fields = {"job": self.func.__qualname__, "job_id": rq_job.id if rq_job else None}
            try:
                result = self.func(*args, **kwargs)
            except Exception as exc:
                log_event("job", logging.ERROR, status="failed", error=type(exc).__name__,
                          ms=round((time.monotonic() - started) * 1000, 1), **fields)
                raise
            log_event("job", status="ok", ms=round((time.monotonic() - started) * 1000, 1), **fields)
            return result

    def enqueue(self, *args, job_id: str | None = None) -> Job:
        """Queue one run. Raises redis.RedisError when Redis is unreachable: callers decide."""
        return enqueue(self.queue, self.target, *args, job_id=job_id, job_timeout=self.timeout, retry=self.retry)

    def enqueue_or_log(self, *args, job_id: str | None = None) -> Job | None:
        """Queue one run, or log that Redis is unreachable and return None (the owner's sweep catches up)."""
        try:
            return self.enqueue(*args, job_id=job_id)
        except redis.RedisError as exc:
            log_event("job_enqueue_failed", logging.WARNING, job=self.func.__qualname__, error=type(exc).__name__)
            return None

    def enqueue_unless_live(self, *args, job_id: str) -> Job | None:
        """Queue one run under `job_id` unless a run with that id is still queued or running (then None:
        RQ would run a second one). Logs and returns None when Redis is unreachable, as enqueue_or_log."""
        try:
            if self.status(job_id) in LIVE_STATES:
                return None
        except redis.RedisError:
            pass  # enqueue_or_log says so
        return self.enqueue_or_log(*args, job_id=job_id)

    def enqueue_each(self, ids) -> int:
        """Queue one run per id, all in one Redis round trip (a drained webhook batch stores 100 calls at
        once); on a Redis error (logged) none is counted as queued, and the owner's sweep catches up.
        Returns how many were queued."""
        ids = list(ids)
        if not ids:
            return 0
        runs = [Queue.prepare_data(self.target, (item_id,), timeout=self.timeout, retry=self.retry) for item_id in ids]
        try:
            get_queue(self.queue).enqueue_many(runs)
        except redis.RedisError as exc:
            log_event("job_enqueue_failed", logging.WARNING, job=self.func.__qualname__, error=type(exc).__name__)
            return 0
        return len(ids)

    def status(self, job_id: str) -> JobStatus | None:
        """The status in Redis of the run with this id; None if Redis has no such run."""
        found = Job.fetch_many([job_id], connection=get_redis())[0]
        return None if found is None else found.get_status(refresh=False)


def job(queue: str = "default", timeout: int = 600, retry: Retry | None = None):
    """Declare a background job (see the module docstring)."""
    def declare(func) -> DeclaredJob:
        return DeclaredJob(func, queue, timeout, retry)
    return declare


@dataclass(frozen=True)
class PeriodicJob:
    """A job the scheduler runs every `interval_seconds`, under an id derived from the job (so a restart
    replaces it rather than adding another)."""

    job: DeclaredJob
    interval_seconds: int

    @property
    def id(self) -> str:
        return "periodic-" + self.job.func.__name__.replace("_", "-")
