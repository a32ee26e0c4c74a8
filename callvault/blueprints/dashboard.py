"""The health dashboard (admins) and its JSON APIs."""
import functools

from flask import Blueprint, current_app, jsonify, render_template, request, url_for
from werkzeug.routing import BuildError

from ..dashboard import figures
from ..dashboard.chart import bar_chart
from ..extensions import htmx
from ..queues import get_redis
from .auth import admin_required
from .helpers import error_response, token_auth

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
# The stacked deliveries chart, bottom up: what went through first, then what needs a look.
DELIVERY_CHART_STATES = ("success", "duplicate", "pending", "rejected", "failed")
PAGE_FAILURES = 50  # the newest failures the page lists (the API gives every kind's FAILURES_PER_KIND)


def admin_api(view):
    """An admin's session, or an admin's personal API token; a bad parameter is a 400 with its message."""
    @functools.wraps(view)
    @token_auth(admin=True, allow_session=True, forbidden="the dashboard is for admins")
    def wrapped(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except figures.FigureError as exc:
            return error_response(400, "bad_request", str(exc))
    return wrapped


def _machinery() -> dict:
    config = current_app.config
    return figures.machinery(get_redis(), config["SCHEDULER_STALE_SECONDS"], config["INPROCESS_QUEUE"])


def _summary() -> dict:
    return figures.cached_summary(get_redis(), _machinery(), current_app.config["DASHBOARD_CACHE_SECONDS"])


def _url(endpoint: str | None, params: dict) -> str | None:
    """A page to act on a failure, if this installation has it."""
    if not endpoint:
        return None
    try:
        return url_for(endpoint, **params)
    except BuildError:
        return None


def _failures(days: int, shown: int | None = None) -> dict:
    """The failures with a URL to act on each; the first `shown` of them (the page), or all (the API)."""
    data = figures.failures(days)
    data["items"] = data["items"][:shown]
    for item in data["items"]:
        action = item["action"]
        action["url"] = _url(action.pop("endpoint"), action.pop("params"))
    return data


# --- the page -----------------------------------------------------------------------------------

def _charts(summary: dict) -> dict:
    """The dashboard's pictures: geometry for the SVG the template draws."""
    return {
        "chart": bar_chart([{**p, "label": p["date"][5:]} for p in summary["calls_per_day"]], max_labels=5),
        "deliveries_chart": bar_chart([{**p, "label": p["date"][5:]} for p in summary["deliveries_per_day"]],
                                      keys=DELIVERY_CHART_STATES, max_labels=5),
        "queue_chart": bar_chart([{**q, "label": q["name"]} for q in summary["machinery"]["queues"]],
                                 keys=("queued", "running", "failed"), max_labels=6),
        "durations_chart": bar_chart([{**j, "label": f"#{j['id']}"} for j in summary["job_durations"]],
                                     keys=("seconds",), max_labels=5),
    }



@bp.get("/")
@admin_required
def index():
    error = None
    try:
        day = figures.parse_day(request.args.get("date"))
    except figures.FigureError as exc:
        error, day = str(exc), figures.parse_day(None)
    summary = _summary()
    context = {
        "day": day, "error": error, "summary": summary, **_charts(summary),
        "pipeline": figures.pipeline(day), "events": figures.events(day), "failures": _failures(7, shown=PAGE_FAILURES),
        "failure_kinds": figures.FAILURE_KINDS, "refresh_seconds": current_app.config["DASHBOARD_REFRESH_SECONDS"],
    }
    if htmx and htmx.target == "dash-body":
        return render_template("dashboard/_body.html", **context)
    return render_template("dashboard/index.html", **context)


# --- JSON APIs: the same figures --------------------------------------------------------------------

@bp.get("/api/summary/")
@admin_api
def api_summary():
    return jsonify(_summary())


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
