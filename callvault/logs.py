"""Structured logs: one JSON line per request and per job, with ids, never with secrets.

Query strings are never logged (transcript links carry their token there), nor the key in a personal
webhook's path (`redaction.py`).
"""
import json
import logging
import sys
import time
import uuid

from flask import g, has_request_context, request

from .redaction import redact_path, redact_target

logger = logging.getLogger("callvault")


def log_event(event: str, level: int = logging.INFO, **fields) -> None:
    record = {"event": event, **fields}
    if has_request_context() and "request_id" not in record:
        record["request_id"] = getattr(g, "request_id", None)
    logger.log(level, json.dumps(record, default=str, separators=(",", ":")))


class RedactRequestLine(logging.Filter):
    """The development server's access lines (`flask run`, werkzeug) without tokens or webhook keys."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args and isinstance(record.args[0], str):
            method, _, rest = record.args[0].partition(" ")
            target, _, protocol = rest.rpartition(" ")
            if target:
                record.args = (f"{method} {redact_target(target)} {protocol}",) + record.args[1:]
        return True


def init_app(app) -> None:
    werkzeug_logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactRequestLine) for f in werkzeug_logger.filters):
        werkzeug_logger.addFilter(RedactRequestLine())
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False

    @app.before_request
    def _start_request_log():
        g.request_started = time.monotonic()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming[:64] if incoming.isprintable() and incoming else uuid.uuid4().hex

    @app.after_request
    def _request_log(response):
        user = getattr(g, "user", None)
        log_event("request", method=request.method, path=redact_path(request.path), status=response.status_code,
                  ms=round((time.monotonic() - g.get("request_started", time.monotonic())) * 1000, 1),
                  user_id=user.id if user else None)
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response
