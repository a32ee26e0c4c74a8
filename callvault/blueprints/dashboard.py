"""The health dashboard (admins), its JSON APIs, and the transcript viewer opened by signed links."""
import functools

from flask import (Blueprint, Response, abort, current_app, g, jsonify, render_template, request, url_for)
from werkzeug.routing import BuildError

from .. import accounts
from ..calls import formats
from ..calls.serialize import call_to_json
from ..dashboard import figures
from ..dashboard.chart import bar_chart
from ..exports.outbox import configured_targets
from ..extensions import htmx
from ..queues import get_redis
from ..transcripts import links
from ..transcripts.view import transcript_lines
from .api import error_response
from .auth import admin_required

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


def admin_api(view):
    """An admin's session, or an admin's personal API token as `Authorization: Bearer <token>`."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        user = g.user
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme:
            user = accounts.user_for_api_token(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            return error_response(401, "unauthorized", "sign in as an admin, or send an admin's personal API "
                                                       "token as 'Authorization: Bearer <token>'")
        if not user.is_admin:
            return error_response(403, "forbidden", "the dashboard is for admins")
        g.user = user
        try:
            return view(*args, **kwargs)
        except figures.FigureError as exc:
            return error_response(400, "bad_request", str(exc))
    return wrapped


def _machinery() -> dict:
    config = current_app.config
    return figures.machinery(get_redis(), config["SCHEDULER_STALE_SECONDS"], config["INPROCESS_QUEUE"])


def _url(endpoint: str | None, params: dict) -> str | None:
    """A page to act on a failure, if this installation has it."""
    if not endpoint:
        return None
    try:
        return url_for(endpoint, **params)
    except BuildError:
        return None


def _failures(days: int) -> dict:
    data = figures.failures(days)
    for item in data["items"]:
        action = item["action"]
        action["url"] = _url(action.pop("endpoint"), action.pop("params"))
    return data


# --- the page -----------------------------------------------------------------------------------

@bp.get("/")
@admin_required
def index():
    error = None
    try:
        day = figures.parse_day(request.args.get("date"))
    except figures.FigureError as exc:
        error, day = str(exc), figures.parse_day(None)
    summary = figures.summary(_machinery())
    context = {
        "day": day, "error": error, "summary": summary, "chart": bar_chart(summary["calls_per_day"]),
        "pipeline": figures.pipeline(day), "events": figures.events(day), "failures": _failures(7),
        "failure_kinds": figures.FAILURE_KINDS, "refresh_seconds": current_app.config["DASHBOARD_REFRESH_SECONDS"],
    }
    if htmx and htmx.target == "dash-body":
        return render_template("dashboard/_body.html", **context)
    return render_template("dashboard/index.html", **context)


# --- JSON APIs: the same figures --------------------------------------------------------------------

@bp.get("/api/summary/")
@admin_api
def api_summary():
    return jsonify(figures.summary(_machinery()))


@bp.get("/api/pipeline/")
@admin_api
def api_pipeline():
    return jsonify(figures.pipeline(figures.parse_day(request.args.get("date"))))


@bp.get("/api/events/")
@admin_api
def api_events():
    return jsonify(figures.events(figures.parse_day(request.args.get("date"))))


@bp.get("/api/failures/")
@admin_api
def api_failures():
    return jsonify(_failures(figures.parse_days(request.args.get("days"))))


# --- the transcript viewer ----------------------------------------------------------------------

def _viewer_headers(response: Response) -> Response:
    """The link is the credential: keep it out of caches, search engines and Referer headers."""
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _denied(problem: links.LinkError):
    page = render_template("transcripts/denied.html", problem=problem, signed_in=g.user is not None)
    return _viewer_headers(Response(page, status=403))


def _open_meeting(meeting_id: str):
    """(call, token) for a viewer request, or a response refusing it."""
    token = request.args.get("token")
    if token:
        try:
            call = links.open_with_token(current_app.config["TRANSCRIPT_TOKEN_SECRET"], token, meeting_id)
        except links.LinkConfigError as exc:
            return None, Response(render_template("error.html", status=503, title="Not configured",
                                                  message=str(exc)), status=503)
        except links.LinkError as problem:
            return None, _denied(problem)
        if call is None:
            abort(404)
        return call, token
    call = links.find_meeting(meeting_id) if g.user is not None else None
    if call is not None and (g.user.is_admin or call.owner_id == g.user.id):
        return call, None
    return None, _denied(links.LinkError("missing"))


@bp.get("/transcripts/<meeting_id>/")
def transcript(meeting_id):
    call, token_or_response = _open_meeting(meeting_id)
    if call is None:
        return token_or_response
    page = render_template("transcripts/viewer.html", call=call, lines=transcript_lines(call.id),
                           token=token_or_response, formats=list(formats.FORMATS))
    return _viewer_headers(Response(page))


@bp.get("/transcripts/<meeting_id>/transcript.<fmt>")
def transcript_download(meeting_id, fmt):
    if fmt not in formats.FORMATS:
        abort(404)
    call, token_or_response = _open_meeting(meeting_id)
    if call is None:
        return token_or_response
    segments = call.segments.all()
    body = formats.render(call, segments, fmt, call_to_json(call, segments) if fmt == "json" else None)
    return _viewer_headers(Response(body, mimetype=formats.FORMATS[fmt], headers={
        "Content-Disposition": f'attachment; filename="call-{call.id}.{fmt}"'}))


# --- helpers for the call page's share links and export status ---------------------------------------

@bp.app_template_global()
def transcript_share_links(call) -> dict:
    """{"error": message} when links cannot be made, else {"links": [(participant, url), …]}."""
    if not current_app.config["TRANSCRIPT_TOKEN_SECRET"]:
        return {"error": links.MISSING_SECRET, "links": []}
    seen, made = set(), []
    for participant in call.participants:
        email = (participant.email or "").strip().lower()
        if email and email not in seen:
            seen.add(email)
            made.append((participant, links.make_link(call, email)))
    return {"error": None, "links": made}


@bp.app_template_global()
def export_targets() -> list[str]:
    return configured_targets()
