"""The call library and the call page."""
from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, url_for

from ..calls import formats, queries
from ..calls.serialize import call_to_json
from ..extensions import htmx
from ..search import listing
from ..search import results as search_results
from ..transcripts.view import transcript_lines
from .auth import login_required
from .helpers import attachment

bp = Blueprint("calls", __name__)
PAGE_SIZE = 25


@bp.get("/")
def index():
    return redirect(url_for("calls.library"))


@bp.get("/calls")
@login_required
def library():
    args = request.args
    error = search = None
    try:
        filters = queries.parse_filters(args.get("q"), args.get("source"), args.get("since"), args.get("until"))
        if filters.q:  # hits with their matching lines and best passage, most relevant first unless sort=newest
            search = search_results.search_for(g.user, filters, current_app.config, args.get("cursor"), PAGE_SIZE,
                                               args.get("sort") or "relevance")
            calls, next_cursor = [], search.next_cursor
        else:
            calls, next_cursor = listing.list_calls(g.user, filters, args.get("cursor"), limit=PAGE_SIZE)
    except queries.QueryError as exc:
        error, calls, next_cursor = str(exc), [], None
    kept = {k: v for k, v in args.items() if k != "cursor" and v}
    context = {"calls": calls, "search": search, "error": error, "args": args,
               "newest_url": url_for("calls.library", **kept) if args.get("cursor") else None,
               "older_url": url_for("calls.library", **kept, cursor=next_cursor) if next_cursor else None}
    if htmx and htmx.target == "calls-table":
        return render_template("calls/_table.html", **context)
    return render_template("calls/library.html", **context)


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
