"""JSON API for scripts and downstream tools: `Authorization: Bearer <personal API token>`."""
from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from ..calls import formats, queries
from ..calls.serialize import call_to_json, calls_to_json
from ..search import listing
from ..search import results as search_results
from ..extensions import csrf
from ..webhooks import deliveries
from .helpers import ApiError, admin_token_required, error_response, token_required

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return error_response(exc.status, exc.code, exc.message)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return error_response(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"), exc.description or "")


PAGE_SIZE, MAX_PAGE_SIZE = 50, 100  # `limit`'s default and largest value


def _limit(default=PAGE_SIZE, maximum=MAX_PAGE_SIZE) -> int:
    raw = request.args.get("limit", default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ApiError(400, "bad_request", "limit must be a whole number") from None
    if not 1 <= value <= maximum:
        raise ApiError(400, "bad_request", f"limit must be between 1 and {maximum}")
    return value


def _call_or_404(call_id):
    call = queries.get_call_for(g.user, call_id)
    if call is None:
        raise ApiError(404, "not_found", f"no call {call_id}")
    return call


@bp.get("/calls")
@token_required
def list_calls():
    """Newest first; with `q`, best match first unless `sort=newest`."""
    args = request.args
    try:
        filters = queries.parse_filters(args.get("q"), args.get("source"), args.get("since"), args.get("until"))
        sort = args.get("sort") or ("relevance" if filters.q else "newest")
        if sort not in search_results.SORTS:
            raise queries.QueryError(f"sort must be one of: {', '.join(search_results.SORTS)}")
        if filters.q and sort == "relevance":
            page = search_results.search_for(g.user, filters, current_app.config, args.get("cursor"), _limit())
            items = calls_to_json([hit.call for hit in page.hits])
            body = {"items": [{**item, "match": _match_json(hit)} for item, hit in zip(items, page.hits)],
                    "next_cursor": page.next_cursor}
            if page.semantic_note:
                body["note"] = page.semantic_note
            return jsonify(body)
        calls, next_cursor = listing.list_calls(g.user, filters, args.get("cursor"), limit=_limit())
    except queries.QueryError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    return jsonify({"items": calls_to_json(calls), "next_cursor": next_cursor})


def _match_json(hit) -> dict:
    """How a ranked hit matched: by words, meaning or both, and its best passage with its time offset."""
    best = hit.best_line
    return {"by": hit.match, "passage": {"start_ms": best.start_ms, "speaker": best.speaker,
                                         "text": "".join(text for text, _ in best.pieces)} if best else None}


@bp.get("/calls/<call_id>")
@token_required
def get_call(call_id):
    call = _call_or_404(call_id)
    return jsonify(call_to_json(call, call.segments.all()))


@bp.get("/calls/<call_id>/transcript.<fmt>")
@token_required
def transcript(call_id, fmt):
    if fmt not in formats.FORMATS:
        raise ApiError(404, "not_found", f"format must be one of {', '.join(formats.FORMATS)}")
    call = _call_or_404(call_id)
    segments = call.segments.all()
    body = formats.render(call, segments, fmt, call_to_json(call, segments) if fmt == "json" else None)
    return Response(body, mimetype=formats.FORMATS[fmt])


@bp.get("/webhook-deliveries")
@admin_token_required
def list_webhook_deliveries():
    args = request.args
    try:
        filters = deliveries.parse_filters(args.get("status"), args.get("endpoint"), args.get("since"),
                                           args.get("until"))
        rows, next_cursor = deliveries.list_deliveries(filters, args.get("cursor"), limit=_limit())
    except queries.QueryError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    return jsonify({"items": [deliveries.delivery_to_json(d) for d in rows], "next_cursor": next_cursor})
