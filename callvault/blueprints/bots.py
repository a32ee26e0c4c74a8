"""The bots page: every bot with filters, its timeline, and what a person can do (send now, cancel,
fetch the transcript again). Members see their own bots; admins everyone's."""
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from ..bots import actions, listing
from ..extensions import db, htmx
from ..models import BOT_STATES, Bot
from .auth import login_required
from .helpers import sentence

bp = Blueprint("bots", __name__, url_prefix="/bots")


def _bot_or_404(bot_id: int) -> Bot:
    bot = db.session.get(Bot, bot_id)
    if bot is None or not actions.visible_to(g.user, bot):
        abort(404)
    return bot


@bp.get("/")
@login_required
def index():
    error, status = None, 200
    try:
        filters = listing.parse_filters(request.args, g.user)
        rows = listing.list_bots(filters)
    except listing.FilterError as exc:
        error, status, rows = sentence(exc), 400, []
    context = {"bots": rows, "error": error, "args": request.args, "listing": listing,
               "refresh_url": request.full_path}
    if htmx and htmx.target == "bots-table":
        return render_template("bots/_table.html", **context), status
    return render_template("bots/index.html", states=BOT_STATES, calendars=listing.calendars(g.user),
                           owners=listing.owners() if g.user.is_admin else [], **context), status


@bp.get("/<int:bot_id>/")
@login_required
def detail(bot_id):
    bot = _bot_or_404(bot_id)
    return render_template("bots/detail.html", bot=bot, listing=listing)


def _back(bot_id: int):
    return redirect(url_for("bots.detail", bot_id=bot_id))


def _sent(sent):
    """After a send-now: say whether a bot was there already, and show it."""
    flash("A bot is in the meeting already." if sent.already_there
          else "A bot is on its way: it joins the meeting in a moment.", "info")
    return _back(sent.bot.id)


@bp.post("/<int:bot_id>/send-now")
@login_required
def send_now(bot_id):
    bot = _bot_or_404(bot_id)
    try:
        sent = actions.send_bot_now(bot, g.user)
    except actions.ActionRefused as exc:
        flash(sentence(exc), "error")
        return _back(bot_id)
    return _sent(sent)


@bp.post("/events/<int:event_id>/send-now")
@login_required
def send_now_to_event(event_id):
    try:
        sent = actions.send_now(event_id, g.user)
    except actions.ActionRefused as exc:
        flash(sentence(exc), "error")
        return redirect(request.referrer or url_for("bots.index"))
    return _sent(sent)


@bp.get("/<int:bot_id>/cancel")
@login_required
def confirm_cancel(bot_id):
    bot = _bot_or_404(bot_id)
    return render_template("bots/cancel.html", bot=bot, listing=listing)


@bp.post("/<int:bot_id>/cancel")
@login_required
def cancel(bot_id):
    bot = _bot_or_404(bot_id)
    try:
        bot = actions.cancel(bot, g.user)
    except actions.ActionRefused as exc:
        flash(sentence(exc), "error")
        return _back(bot_id)
    if bot.state == "cancelled":
        flash("Cancelled: no bot will record this meeting (one already there is asked to leave).", "info")
    else:
        flash("Skipped for you: the meeting keeps its bot because another attendee's calendar still wants it.",
              "info")
    return _back(bot_id)


@bp.post("/<int:bot_id>/transcript")
@login_required
def fetch_transcript(bot_id):
    bot = _bot_or_404(bot_id)
    try:
        actions.fetch_transcript_again(bot)
    except actions.ActionRefused as exc:
        flash(sentence(exc), "error")
    else:
        flash("Fetching the transcript again: it appears in your library when it arrives.", "info")
    return _back(bot_id)
