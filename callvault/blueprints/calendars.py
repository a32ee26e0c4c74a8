"""Calendars: connecting Google and Microsoft by OAuth, the push receivers, sync-now and disconnect.

The paths under /dashboard/ are registered here in full (no url_prefix): the dashboard and
transcripts blueprints own that prefix for their own pages.
"""
import hmac
import secrets

import redis
from flask import Blueprint, Response, current_app, flash, g, jsonify, redirect, render_template, request, \
    session, url_for

from ..calendars import connections, lifecycle, oauth, push, sync
from ..calendars.transport import CalendarError, NotConfigured
from ..extensions import csrf, db
from ..models import Calendar
from .auth import login_required, own_or_404, safe_next
from .helpers import error_response, sentence

bp = Blueprint("calendars", __name__)


def _state_key(provider: oauth.Provider) -> str:
    return f"calendar_oauth_state_{provider.name}"


# --- connecting ----------------------------------------------------------------------------------

@bp.get("/dashboard/auth/google/")
@login_required
def google_start():
    return _start(oauth.GOOGLE)


@bp.get("/dashboard/auth/google/callback/")
@login_required
def google_callback():
    return _callback(oauth.GOOGLE)


@bp.get("/dashboard/auth/microsoft/")
@login_required
def microsoft_start():
    return _start(oauth.MICROSOFT)


@bp.get("/dashboard/auth/microsoft/callback/")
@login_required
def microsoft_callback():
    return _callback(oauth.MICROSOFT)


def _start(provider: oauth.Provider):
    state = secrets.token_urlsafe(32)
    try:
        url = oauth.authorization_url(current_app.config, provider, state)
    except NotConfigured as exc:
        detail = f": {exc}" if g.user.is_admin else ""  # the setting's name is for admins only
        return _result(provider, error=f"{provider.title} calendars are not set up on this server{detail}.",
                       status=503)
    session[_state_key(provider)] = state
    return redirect(url)  # the provider's authorize endpoint, from our configuration only


def _callback(provider: oauth.Provider):
    expected = session.pop(_state_key(provider), None)
    args = request.args
    if not expected or not hmac.compare_digest(expected.encode(), args.get("state", "").encode()):
        return _result(provider, error=f"The answer from {provider.title} did not match this browser session "
                                       "(state mismatch). Start again from Settings.")
    if args.get("error"):
        if args["error"] == "access_denied":
            message = f"You declined to give CallVault access to your {provider.title} calendar."
        else:
            detail = args.get("error_description") or ""
            message = f"{provider.title} refused: {args['error'][:100]}{(' – ' + detail[:300]) if detail else ''}."
        return _result(provider, error=message)
    if not args.get("code"):
        return _result(provider, error=f"{provider.title} sent no authorization code. Start again from Settings.")
    try:
        calendar, queued = lifecycle.connect_oauth(g.user, provider, args["code"])
    except (connections.ConnectError, CalendarError) as exc:
        db.session.rollback()
        return _result(provider, error=sentence(exc), status=502 if isinstance(exc, CalendarError) else 400)
    return _result(provider, calendar=calendar, queued=queued, status=200)


def _result(provider, error=None, calendar=None, queued=True, status=400):
    return render_template("calendars/oauth_result.html", provider=provider, error=error, calendar=calendar,
                           queued=queued), status


# --- the owner's buttons -------------------------------------------------------------------------

@bp.post("/calendars/<int:calendar_id>/sync")
@login_required
def sync_now(calendar_id):
    calendar = own_or_404(Calendar, calendar_id)
    if not calendar.is_connected:
        flash("This calendar is disconnected: connect it again first.", "error")
    else:
        try:
            sync.request_sync(calendar.id)
            flash(f"Sync of {calendar.account_email} requested; it runs in the background.", "info")
        except redis.RedisError:
            flash("The job queue is unavailable right now; try again in a minute.", "error")
    return redirect(url_for("settings.index", _anchor="calendars"))


@bp.post("/calendars/<int:calendar_id>/disconnect")
@login_required
def disconnect(calendar_id):
    calendar = own_or_404(Calendar, calendar_id)
    lifecycle.disconnect(calendar)
    flash(f"{calendar.account_email} disconnected: push notifications stopped and its tokens deleted.", "info")
    return redirect(url_for("settings.index", _anchor="calendars"))


DISMISSED_NOTICES = "dismissed_calendar_notices"


def notice_key(calendar: Calendar) -> str:
    """One disconnection of one calendar: dismissing it does not hide a later one."""
    return f"{calendar.id}:{calendar.disconnected_at.isoformat() if calendar.disconnected_at else ''}"


@bp.post("/calendars/<int:calendar_id>/dismiss-notice")
@login_required
def dismiss_notice(calendar_id):
    """Hide the "calendar disconnected" banner for the rest of this session."""
    calendar = own_or_404(Calendar, calendar_id)
    session[DISMISSED_NOTICES] = sorted(set(session.get(DISMISSED_NOTICES, [])) | {notice_key(calendar)})
    return redirect(safe_next(request.form.get("next")))


# --- push receivers (senders cannot carry a CSRF token) ---------------------------------------------

@bp.post("/dashboard/webhook/google-calendar/")
@csrf.exempt
def google_webhook():
    return _push_response(push.receive_google(request.headers))


@bp.post("/dashboard/webhook/microsoft-calendar/")
@csrf.exempt
def microsoft_webhook():
    return _push_response(push.receive_microsoft(request.args.get("validationToken"), request.get_data()))


def _push_response(answer: push.Answer):
    if answer.text is not None:
        response = Response(answer.text, 200, mimetype="text/plain")
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
    if answer.status >= 400:
        return error_response(answer.status, "rejected" if answer.status < 500 else "unavailable", answer.message)
    return jsonify({"status": "ok", "message": answer.message}), answer.status

