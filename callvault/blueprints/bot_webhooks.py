"""POST /webhooks/attendee: the bot service's state changes (signed, logged, processed in the queue)."""
from flask import Blueprint

from ..bots import lifecycle
from ..extensions import csrf
from .webhooks import answer_webhook

bp = Blueprint("bot_webhooks", __name__, url_prefix="/webhooks")
csrf.exempt(bp)


@bp.post("/attendee")
def attendee():
    return answer_webhook(lifecycle.receive, lifecycle.reject_oversized)
