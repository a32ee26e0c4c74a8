"""POST /webhooks/attendee: the bot service's state changes (signed, logged, processed in the queue)."""
from flask import Blueprint, request
from werkzeug.wsgi import get_input_stream

from ..bots import lifecycle
from ..extensions import csrf
from ..webhooks.intake import PREVIEW_CAP
from .webhooks import _body_within_limit, _respond

bp = Blueprint("bot_webhooks", __name__, url_prefix="/webhooks")
csrf.exempt(bp)


@bp.post("/attendee")
def attendee():
    body = _body_within_limit()
    if body is None:
        size = request.content_length
        preview = get_input_stream(request.environ, max_content_length=None).read(PREVIEW_CAP) if size else b""
        return _respond(lifecycle.reject_oversized(request.headers, preview, size))
    return _respond(lifecycle.receive(request.headers, body))
