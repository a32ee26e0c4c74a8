"""The admins' webhook deliveries log (live table, detail, replay)."""
import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from ..calls.queries import QueryError
from ..extensions import db, htmx
from ..models import DELIVERY_STATES, User, WebhookDelivery
from ..webhooks import deliveries, intake
from .auth import admin_required
from .helpers import sentence

bp = Blueprint("webhook_pages", __name__, url_prefix="/admin/webhook-deliveries")
PAGE_SIZE = 50
BODY_DISPLAY_CAP = 200_000  # characters of a body shown on the page


@bp.get("/")
@admin_required
def index():
    args = request.args
    error = None
    try:
        filters = deliveries.parse_filters(args.get("status"), args.get("endpoint"), args.get("since"),
                                           args.get("until"))
        rows, next_cursor = deliveries.list_deliveries(filters, args.get("cursor"), limit=PAGE_SIZE)
    except QueryError as exc:
        error, rows, next_cursor = str(exc), [], None
    kept = {k: v for k, v in args.items() if k != "cursor" and v}
    context = {"deliveries": rows, "error": error, "args": args, "states": DELIVERY_STATES,
               "waiting": intake.waiting_in_inbox(),
               "refresh_url": request.full_path,
               "newest_url": url_for("webhook_pages.index", **kept) if args.get("cursor") else None,
               "older_url": url_for("webhook_pages.index", **kept, cursor=next_cursor) if next_cursor else None}
    if htmx and htmx.target == "deliveries-table":
        return render_template("webhooks/_deliveries_table.html", **context)
    return render_template("webhooks/deliveries.html", endpoints=deliveries.endpoints(), **context)


@bp.get("/<int:delivery_id>")
@admin_required
def detail(delivery_id):
    delivery = db.session.get(WebhookDelivery, delivery_id) or abort(404)
    user = db.session.get(User, delivery.user_id) if delivery.user_id else None
    return render_template("webhooks/delivery.html", delivery=delivery, user=user, body=_displayable(delivery.body),
                           body_display_cap=BODY_DISPLAY_CAP)


@bp.post("/<int:delivery_id>/replay")
@admin_required
def replay(delivery_id):
    try:
        delivery = intake.replay(delivery_id)
    except intake.ReplayRefused as exc:
        flash(sentence(exc), "error")
    else:
        if delivery.status == "success":
            flash(f"Replayed: the delivery is now call {delivery.call_id}.", "info")
        else:
            flash(f"Replayed, and it failed again: {delivery.error_message}", "error")
    return redirect(url_for("webhook_pages.detail", delivery_id=delivery_id))


def _displayable(body: str | None) -> str:
    """JSON bodies indented for reading; long ones cut (the stored body is untouched)."""
    if not body:
        return ""
    if len(body) <= BODY_DISPLAY_CAP:
        try:
            body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            pass
    return body[:BODY_DISPLAY_CAP]
