"""The call library and the call page."""
from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, url_for

from .. import onboarding
from ..calls import formats, queries
from ..calls.serialize import call_to_json
from ..extensions import htmx
from ..ids import parse_id
from ..search import listing
from ..search import results as search_results
from ..setup_status import is_on
from ..transcripts.view import transcript_lines
from .auth import login_required
from .helpers import attachment

bp = Blueprint("calls", __name__)
PAGE_SIZE = 25


@bp.get("/")
def index():
    return redirect(url_for("calls.library"))


FILTER_ARGS = ("q", "source", "since", "until")


def _library_context(args):
    """What the library's table shows for these query arguments (the page and its live updates)."""
    error = search = None
    poll_url = None
    try:
        filters = queries.parse_filters(args.get("q"), args.get("source"), args.get("since"), args.get("until"))
        if filters.q:  # hits with their matching lines and best passage, most relevant first unless sort=newest
            search = search_results.search_for(g.user, filters, current_app.config, args.get("cursor"), PAGE_SIZE,
                                               args.get("sort") or "relevance")
            calls, next_cursor = [], search.next_cursor
        else:
            calls, next_cursor = listing.list_calls(g.user, filters, args.get("cursor"), limit=PAGE_SIZE)
            if not args.get("cursor") and current_app.config["LIBRARY_POLL_SECONDS"]:
                kept = {k: args[k] for k in FILTER_ARGS if args.get(k)}
                poll_url = url_for("calls.updates", after=queries.latest_call_id(g.user, filters), **kept)
    except queries.QueryError as exc:
        error, calls, next_cursor = str(exc), [], None
    kept = {k: v for k, v in args.items() if k != "cursor" and v}
    return {"calls": calls, "search": search, "error": error, "args": args, "poll_url": poll_url,
            "poll_seconds": current_app.config["LIBRARY_POLL_SECONDS"],
            "first_run": None if calls or search or error or kept else onboarding.checklist(
                g.user, is_on(current_app.config, "fathom-oauth-webhook")),
            "newest_url": url_for("calls.library", **kept) if args.get("cursor") else None,
            "older_url": url_for("calls.library", **kept, cursor=next_cursor) if next_cursor else None}


@bp.get("/calls")
@login_required
def library():
    context = _library_context(request.args)
    if htmx and htmx.target == "calls-table":
        return render_template("calls/_table.html", **context)
    return render_template("calls/library.html", **context)


@bp.get("/calls/updates")
@login_required
def updates():
    """The library's poll: 204 while nothing new arrived, else the table's first page again."""
    args = request.args
    after = parse_id(args.get("after")) if args.get("after") else 0
    if after is None:
        return "after must be a call id", 400
    try:
        filters = queries.parse_filters(None, args.get("source"), args.get("since"), args.get("until"))
    except queries.QueryError as exc:
        return str(exc), 400
    if not queries.has_calls_after(g.user, filters, after):
        return "", 204
    context = _library_context({k: args[k] for k in FILTER_ARGS if k != "q" and args.get(k)})
    return render_template("calls/_table.html", arrived=True, **context)


@bp.get("/calls/<int:call_id>")
@login_required
def detail(call_id):
    call = queries.get_call_for(g.user, call_id) or abort(404)
    return render_template("calls/detail.html", call=call, lines=transcript_lines(call.id))


@bp.get("/calls/<int:call_id>/transcript.<fmt>")
@login_required
def download(call_id, fmt):
    if fmt not in formats.FORMATS:
        abort(404)
    call = queries.get_call_for(g.user, call_id) or abort(404)
    segments = call.segments.all()
    body = formats.render(call, segments, fmt, call_to_json(call, segments) if fmt == "json" else None)
    return Response(body, mimetype=formats.FORMATS[fmt], headers={
        "Content-Disposition": attachment(f"{formats.file_stem(call)}.{fmt}")})
