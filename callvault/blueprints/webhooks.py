"""Webhook receivers (Fathom, the Attendee bot service): signed, logged, processed in the queue.
Senders sign their requests instead of carrying a CSRF token."""
from functools import partial
from typing import Callable, Mapping

from flask import Blueprint, current_app, jsonify, request
from werkzeug.wsgi import get_input_stream

from ..bots import lifecycle
from ..extensions import csrf
from ..fathom import webhooks as fathom_webhooks
from ..webhooks.intake import PREVIEW_CAP, Answer
from .helpers import error_response

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
csrf.exempt(bp)


@bp.post("/fathom")
def fathom_oauth_app():
    return answer_webhook(fathom_webhooks.receive_oauth_app,
                          partial(fathom_webhooks.reject_oversized, fathom_webhooks.OAUTH_APP_ENDPOINT))


@bp.post("/fathom/<path:key>")
def fathom_personal(key):
    return answer_webhook(partial(fathom_webhooks.receive_personal, key),
                          partial(fathom_webhooks.reject_oversized, fathom_webhooks.PERSONAL_ENDPOINT))


@bp.post("/attendee")
def attendee():
    """The recording-bot service's state changes and transcripts."""
    return answer_webhook(lifecycle.receive, lifecycle.reject_oversized)


def answer_webhook(receive: Callable[[Mapping[str, str], bytes], Answer],
                   reject_oversized: Callable[[Mapping[str, str], bytes, int | None], Answer]):
    """Every webhook endpoint's answer: the body goes to `receive`, or when it is over the limit
    (declared or chunked) its first bytes and size go to `reject_oversized`."""
    body, preview, size = read_body()
    if body is None:
        return _respond(reject_oversized(request.headers, preview, size))
    return _respond(receive(request.headers, body))


READ_CHUNK = 1024 * 1024


def read_body() -> tuple[bytes | None, bytes, int | None]:
    """(body, b"", None) within MAX_CONTENT_LENGTH; else (None, its first PREVIEW_CAP bytes, its size if declared).

    Read here rather than with request.get_data(): a chunked body (no Content-Length) over the
    limit would come back silently cut at the limit, and be judged as if it were the whole body.
    """
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    declared = request.content_length
    stream = get_input_stream(request.environ, max_content_length=None)
    if declared is not None and declared > limit:
        return None, stream.read(PREVIEW_CAP), declared
    chunks, total = [], 0
    while total <= limit:
        chunk = stream.read(min(READ_CHUNK, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    data = b"".join(chunks)
    if total > limit:
        return None, data[:PREVIEW_CAP], None
    return data, b"", None


def _respond(answer: Answer):
    if answer.status >= 400:
        response, status = error_response(answer.status, answer.code, answer.message)
    else:
        response, status = jsonify({"status": answer.code, "message": answer.message}), answer.status
    if answer.delivery_id is not None:  # the row's id, when it was written before the answer
        response.headers["X-Webhook-Delivery"] = str(answer.delivery_id)
    if answer.receipt is not None:  # the row's `receipt`, whichever way the request was kept
        response.headers["X-Webhook-Receipt"] = answer.receipt
    return response, status
