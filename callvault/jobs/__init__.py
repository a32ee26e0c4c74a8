"""RQ jobs: thin wrappers that push an app context and call a service.

`@job` gives every job a fresh app context (so a fresh database session) and one log line.
In a forked work horse the inherited connection pool is disposed first: sockets shared with
the parent process must not be reused.
"""
import functools
import logging
import os
import time

from flask import current_app, has_app_context
from rq import get_current_job

from ..logs import log_event

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


def job(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _app_for_job().app_context():
            rq_job = get_current_job()
            started = time.monotonic()
            fields = {"job": func.__qualname__, "job_id": rq_job.id if rq_job else None}
            try:
                result = func(*args, **kwargs)
            except Exception as exc:
                log_event("job", logging.ERROR, status="failed", error=type(exc).__name__,
                          ms=round((time.monotonic() - started) * 1000, 1), **fields)
                raise
            log_event("job", status="ok", ms=round((time.monotonic() - started) * 1000, 1), **fields)
            return result
    return wrapper
