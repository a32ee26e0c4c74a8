"""Fathom pages: connecting (API key or OAuth), the fetch-and-sync page, and sync job rows."""
import hmac
import secrets

from flask import (Blueprint, abort, current_app, flash, g, make_response, redirect, render_template, request, session,
                   url_for)

from ..extensions import htmx
from ..fathom import credentials, listing, oauth, sync
from ..fathom import webhooks as fathom_webhooks
from ..fathom.client import FathomError, FathomNotFound
from .auth import login_required
from .helpers import sentence

bp = Blueprint("fathom", __name__)
STATE_KEY = "fathom_oauth_state"
HTMX_STOP_POLLING = 286
SYNC_FINISHED_EVENT = "fathom-sync-finished"  # a job row that stops polling tells the meeting rows


# --- connecting ----------------------------------------------------------------------------------

@bp.get("/auth/fathom/")
@login_required
def oauth_start():
    state = secrets.token_urlsafe(24)
    try:
        url = oauth.authorization_url(current_app.config, state)
    except oauth.OAuthNotConfigured as exc:
        flash(sentence(exc) if g.user.is_admin else
              "Connecting Fathom with OAuth is not available on this server; use an API key.", "error")
        return redirect(url_for("settings.index"))
    session[STATE_KEY] = state
    return redirect(url)


@bp.get("/auth/fathom/callback/")
@login_required
def oauth_callback():
    expected = session.pop(STATE_KEY, None)
    state, code = request.args.get("state", ""), request.args.get("code", "")
    if request.args.get("error"):
        flash(f"Fathom did not connect: {request.args['error'][:100]}.", "error")
    elif not expected or not hmac.compare_digest(expected, state):
        flash("The answer from Fathom did not match this browser session (state mismatch). "
              "Start again from Settings.", "error")
    elif not code:
        flash("Fathom sent no authorization code. Start again from Settings.", "error")
    else:
        try:
            flash(credentials.connect_oauth(g.user, code), "info")
        except (credentials.ConnectError, oauth.OAuthNotConfigured) as exc:
            flash(sentence(exc), "error")
    return redirect(url_for("settings.index"))


@bp.post("/fathom/connection/api-key")
@login_required
def connect_api_key():
    try:
        flash(credentials.connect_api_key(g.user, request.form.get("api_key", "")), "info")
    except credentials.ConnectError as exc:
        flash(sentence(exc), "error")
    return redirect(url_for("settings.index"))


@bp.post("/fathom/connection/test")
@login_required
def test_connection():
    results = credentials.test_connection(g.user)
    if not results:
        flash("Fathom is not connected: add an API key or connect with OAuth.", "warning")
    for result in results:
        flash(result.message, "info" if result.ok else "error")
    return redirect(url_for("settings.index"))


@bp.post("/fathom/connection/disconnect")
@login_required
def disconnect():
    if credentials.disconnect(g.user):
        flash("Fathom disconnected: its credentials were deleted.", "info")
    return redirect(url_for("settings.index"))


# --- fetch and sync ------------------------------------------------------------------------------

def _filters(values) -> dict:
    return {"since": sync.parse_day(values.get("since"), "from"), "until": sync.parse_day(values.get("until"), "to"),
            "mine_only": values.get("mine") == "1"}


@bp.get("/fathom/sync")
@login_required
def sync_page():
    return render_template("fathom/sync.html", connection=credentials.get_connection(g.user),
                           jobs=sync.jobs_for(g.user), args=request.args, eta=sync.eta_seconds,
                           oauth_webhook_url=fathom_webhooks.oauth_app_webhook_url())


@bp.get("/fathom/sync/meetings")
@login_required
def meetings():
    """The meetings table (or, with a cursor, the next rows to append to it)."""
    args = request.args
    cursor = args.get("cursor") or None
    rows, next_cursor, error = [], None, None
    try:
        rows, next_cursor = listing.fetch_meetings(g.user, cursor=cursor, **_filters(args))
    except (listing.SyncError, FathomError) as exc:
        error = sentence(exc)
    hidden = 0
    if args.get("unsynced") == "1":  # only meetings not yet synced (or changed since)
        shown = [row for row in rows if row.status != listing.SYNCED]
        hidden, rows = len(rows) - len(shown), shown
    kept = {k: args[k] for k in ("since", "until", "mine", "unsynced") if args.get(k)}
    more_url = url_for("fathom.meetings", cursor=next_cursor, **kept) if next_cursor else None
    template = "fathom/_meeting_rows.html" if cursor else "fathom/_meetings.html"
    return render_template(template, rows=rows, more_url=more_url, error=error, args=kept, hidden=hidden,
                           status_id=listing.status_dom_id)


@bp.get("/fathom/sync/statuses")
@login_required
def statuses():
    """The status cells of the listed meetings, swapped in place (out of band) when a job finishes."""
    rids = [rid[:128] for rid in request.args.getlist("listed")]
    return render_template("fathom/_statuses.html", statuses=listing.statuses_now(g.user, rids),
                           status_id=listing.status_dom_id)


def _job_row(job, status=200):
    response = make_response(render_template("fathom/_job_row.html", job=job, eta=sync.eta_seconds), status)
    if htmx and not job.is_active:
        response.status_code = HTMX_STOP_POLLING
        response.headers["HX-Trigger"] = SYNC_FINISHED_EVENT
    return response


def _job_answer(job, message: str | None = None):
    """After a button on a job: its row (htmx), or back to the sync page."""
    if htmx:
        return _job_row(job)
    if message:
        flash(message, "info")
    return redirect(url_for("fathom.sync_page"))


def _job_refused(exc):
    """A sync that could not start: the reason in place of the row (htmx), or flashed on the sync page."""
    if htmx:
        return render_template("fathom/_job_error.html", message=sentence(exc)), 200
    flash(sentence(exc), "error")
    return redirect(url_for("fathom.sync_page"))


@bp.post("/fathom/sync/jobs")
@login_required
def start_job():
    form = request.form
    try:
        ids = form.getlist("recording_id") if form.get("action") != "range" else None
        if ids is not None and not ids:
            raise sync.SyncError("select at least one meeting")
        if ids is None and form.get("confirmed") != "1":
            return _confirm_range(form)
        job = sync.start_sync(g.user, ids, **_filters(form))
    except sync.SyncError as exc:
        return _job_refused(exc)
    response = _job_answer(job, f"Sync #{job.id} started.")
    if htmx and ids is None:  # the confirm step is answered: take it off the page
        response.set_data(response.get_data() + b'<div id="range-confirm" aria-live="polite" hx-swap-oob="true"></div>')
    return response


def _confirm_range(form):
    """Before "Sync all in range": how many meetings it would see and how many it skips as unchanged."""
    filters = _filters(form)
    try:
        count = listing.count_in_range(g.user, **filters)
    except FathomError as exc:
        raise sync.SyncError(str(exc)) from None
    kept = {k: form[k] for k in ("since", "until", "mine") if form.get(k)}
    if htmx:
        response = make_response(render_template("fathom/_range_confirm.html", count=count, args=kept))
        response.headers.update({"HX-Retarget": "#range-confirm", "HX-Reswap": "innerHTML"})
        return response
    return render_template("fathom/range_confirm.html", count=count, args=kept)


def _visible_job(job_id):
    return sync.job_for(g.user, job_id) or abort(404)


@bp.get("/fathom/sync/jobs/<int:job_id>")
@login_required
def job_row(job_id):
    return _job_row(_visible_job(job_id))


@bp.post("/fathom/sync/jobs/<int:job_id>/cancel")
@login_required
def cancel_job(job_id):
    job = _visible_job(job_id)
    sync.cancel(job)
    return _job_answer(job)


@bp.post("/fathom/sync/jobs/<int:job_id>/retry")
@login_required
def retry_job(job_id):
    try:
        job = sync.retry_failed(g.user, _visible_job(job_id))
    except sync.SyncError as exc:
        return _job_refused(exc)
    return _job_answer(job)


@bp.get("/fathom/meetings/<recording_id>")
@login_required
def preview(recording_id):
    try:
        call = listing.preview(g.user, recording_id)
    except (listing.SyncError, FathomError) as exc:
        # no connection is the person's to fix (409); only Fathom itself failing is a bad gateway
        status = 404 if isinstance(exc, FathomNotFound) else 409 if isinstance(exc, listing.SyncError) else 502
        return render_template("error.html", status=status, title="Fathom preview failed",
                               message=sentence(exc)), status
    status, call_id = listing.statuses_now(g.user, [recording_id]).get(recording_id, (listing.NOT_SYNCED, None))
    return render_template("fathom/preview.html", call=call, recording_id=recording_id, status=status,
                           call_id=call_id)
