"""The JSON API described as OpenAPI 3.1, public at `GET /api/v1/openapi.json`: every `/api/v1/…`
operation and the dashboard's JSON APIs, with their parameters, bearer auth, and response shapes
(errors included). The suite runs Schemathesis against a live server with this document
(tests/web/test_openapi.py), so a change to a response that is not made here too fails there.
"""
from flask import Blueprint, jsonify

from ..calls.formats import FORMATS
from ..dashboard.figures import MAX_FAILURE_DAYS
from ..ids import MAX_ID
from ..models import DELIVERY_STATES, SOURCES
from .api import MAX_PAGE_SIZE, PAGE_SIZE

bp = Blueprint("openapi", __name__)


def _nullable(kind: str) -> dict:
    return {"type": [kind, "null"]}


def _object(properties: dict, required=None) -> dict:
    return {"type": "object", "properties": properties, "required": list(required or properties)}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return _json({"$ref": "#/components/schemas/Error"}, description)


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


PERSON = _object({"name": _nullable("string"), "email": _nullable("string")})
INSTANT = {"type": ["string", "null"], "description": "RFC 3339, UTC (`…Z`)"}
CALL = _object({
    "id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    "source": {"type": "string", "enum": list(SOURCES)},
    "external_id": {"type": "string", "description": "the source's id, as text"},
    "title": _nullable("string"),
    "started_at": INSTANT,
    "ended_at": INSTANT,
    "duration_seconds": _nullable("integer"),
    "recorded_by": PERSON,
    "participants": {"type": "array", "items": _object({
        "name": _nullable("string"), "email": _nullable("string"),
        "is_external": _nullable("boolean"), "is_organizer": _nullable("boolean")})},
    "summary_markdown": _nullable("string"),
    "action_items": {"type": "array", "items": _object({
        "description": _nullable("string"), "assignee": PERSON,
        "completed": _nullable("boolean"), "timestamp_ms": _nullable("integer")})},
    "recording_url": _nullable("string"),
    "share_url": _nullable("string"),
    "created_at": INSTANT,
    "updated_at": INSTANT,
})
SEGMENT = _object({"speaker": _nullable("string"), "text": {"type": "string"},
                   "start_ms": {"type": "integer"}, "end_ms": _nullable("integer")})
CALL_WITH_SEGMENTS = {"allOf": [{"$ref": "#/components/schemas/Call"}, _object(
    {"segments": {"type": "array", "items": {"$ref": "#/components/schemas/Segment"}}})]}
MATCH = _object({
    "by": {"type": "string", "enum": ["words", "meaning", "both"],
           "description": "whether the call contains the words, said something with the same meaning, or both"},
    "passage": {"oneOf": [{"type": "null"}, _object({"start_ms": _nullable("integer"), "speaker": _nullable("string"),
                                                     "text": {"type": "string"}})],
                "description": "its best passage: the most similar one, else the first line with the words; "
                               "`start_ms` is null for the call's title and summary"}})
CALL_OR_HIT = {"allOf": [{"$ref": "#/components/schemas/Call"}, {"type": "object", "properties": {"match": MATCH}}],
               "description": "a call; with `q` and `sort=relevance` it also says how it matched"}
DELIVERY = _object({
    "id": {"type": "integer"}, "received_at": INSTANT, "source": {"type": "string"},
    "endpoint": {"type": "string"}, "webhook_id": _nullable("string"),
    "status": {"type": "string", "enum": list(DELIVERY_STATES)}, "signature_valid": _nullable("boolean"),
    "error_message": _nullable("string"), "body_size": _nullable("integer"), "body_cap": _nullable("integer"),
    "body_truncated": _nullable("boolean"), "user_id": _nullable("integer"), "call_id": _nullable("integer"),
    "attempts": _nullable("integer"), "processed_at": INSTANT,
}, required=["id", "received_at", "source", "endpoint", "status"])
ERROR = _object({"error": _object({"code": {"type": "string", "minLength": 1},
                                   "message": {"type": "string"}})})


def _page_of(item_ref: str) -> dict:
    return _object({"items": {"type": "array", "items": {"$ref": item_ref}},
                    "next_cursor": {"type": ["string", "null"], "description": "pass as `cursor` for the next page"}})


CURSOR = _query("cursor", {"type": "string", "maxLength": 200}, "`next_cursor` of the previous page")
LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": PAGE_SIZE}, "page size")
SINCE = _query("since", {"type": "string"}, "ISO 8601 date or date-time (naive is UTC), years 0001…9999")
UNTIL = _query("until", {"type": "string"}, "ISO 8601 date or date-time, exclusive")
DAY = _query("date", {"type": "string", "format": "date"}, "a UTC day, YYYY-MM-DD; default today")
CALL_ID = {"name": "call_id", "in": "path", "required": True,
           "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}
AUTH_ERRORS = {"401": _error("no valid personal API token")}
ADMIN_ERRORS = {**AUTH_ERRORS, "403": _error("the token is not an admin's")}
DASHBOARD = {"tags": ["dashboard"], "description": "An admin's personal API token (or an admin's signed-in session)."}


def _operation(summary: str, responses: dict, parameters=(), **extra) -> dict:
    return {"get": {"summary": summary, "parameters": list(parameters), "responses": responses, **extra}}


def spec() -> dict:
    """The OpenAPI 3.1 document (the same for everyone: no secrets, no per-user data)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "CallVault JSON API", "version": "1",
                 "description": "Meeting transcripts for scripts and downstream tools. Send "
                                "`Authorization: Bearer <personal API token>` (Settings, or `flask users token`). "
                                "Members see their own calls, admins everyone's. Every error is "
                                "`{\"error\": {\"code\", \"message\"}}`; bad input is always a 4xx."},
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/openapi.json": _operation(
                "This document", {"200": _json({"type": "object", "required": ["openapi", "paths"]},
                                               "the OpenAPI 3.1 document")}, security=[]),
            "/api/v1/calls": _operation(
                "The caller's calls: newest first, or with `q` best match first (`sort=relevance`)",
                {"200": _json(_object({
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/CallOrHit"}},
                    "next_cursor": {"type": ["string", "null"], "description": "pass as `cursor` for the next page"},
                    "note": {"type": "string", "description": "why matches by meaning are missing, if they are"}},
                    required=["items", "next_cursor"]),
                    "a page of calls (without segments); ranked by relevance, each with how it matched"),
                 "400": _error("a filter, sort, cursor or limit that cannot be understood"), **AUTH_ERRORS},
                [_query("q", {"type": "string"}, "search: words, \"phrases\", -exclusions, OR; calls also match by "
                                                 "meaning (a question in other words finds them)"),
                 _query("sort", {"type": "string", "enum": ["relevance", "newest"]},
                        "with `q`: `relevance` (the default: word and meaning matches fused, best first) or "
                        "`newest` (calls containing the words, newest first); without `q` always newest first"),
                 _query("source", {"type": "string", "enum": list(SOURCES)}, "only calls from this source"),
                 SINCE, UNTIL, CURSOR, LIMIT]),
            "/api/v1/calls/{call_id}": _operation(
                "One call with its transcript segments in spoken order",
                {"200": _json(CALL_WITH_SEGMENTS, "the call"),
                 "404": _error("no such call, or not the caller's"), **AUTH_ERRORS},
                [CALL_ID]),
            "/api/v1/calls/{call_id}/transcript.{fmt}": _operation(
                "A call's transcript as a file",
                {"200": {"description": "the transcript", "content": {
                    "application/json": {"schema": CALL_WITH_SEGMENTS},
                    **{mime.split(";")[0]: {"schema": {"type": "string"}} for fmt, mime in FORMATS.items()
                       if fmt != "json"}}},
                 "404": _error("no such call or format"), **AUTH_ERRORS},
                [CALL_ID, {"name": "fmt", "in": "path", "required": True,
                           "schema": {"type": "string", "enum": list(FORMATS)}}]),
            "/api/v1/webhook-deliveries": _operation(
                "The webhook deliveries log, newest first (admins)",
                {"200": _json(_page_of("#/components/schemas/Delivery"), "a page of deliveries"),
                 "400": _error("a filter, cursor or limit that cannot be understood"), **ADMIN_ERRORS},
                [_query("status", {"type": "string", "enum": list(DELIVERY_STATES)}, "only this outcome"),
                 _query("endpoint", {"type": "string"}, "only this receiver (a URL rule)"),
                 SINCE, _query("until", {"type": "string"}, "exclusive; a bare date includes that day"),
                 CURSOR, LIMIT]),
            "/dashboard/api/summary/": _operation(
                "All-time figures", {"200": _json(_object(
                    {"generated_at": {"type": "string"}, "calls": {"type": "object"}, "users": {"type": "object"},
                     "calls_per_day": {"type": "array"}, "machinery": {"type": "object"}}), "the figures"),
                    **ADMIN_ERRORS}, **DASHBOARD),
            "/dashboard/api/pipeline/": _operation(
                "One day's pipeline figures", {"200": _json(_object(
                    {"date": {"type": "string", "format": "date"}, "stages": {"type": "array"}}), "the figures"),
                    "400": _error("a date that cannot be understood"), **ADMIN_ERRORS}, [DAY], **DASHBOARD),
            "/dashboard/api/events/": _operation(
                "One day's calendar events with their bots, and its calls", {"200": _json(_object(
                    {"date": {"type": "string", "format": "date"}, "events": {"type": "array"},
                     "calls": {"type": "array"}}), "the events"),
                    "400": _error("a date that cannot be understood"), **ADMIN_ERRORS}, [DAY], **DASHBOARD),
            "/dashboard/api/failures/": _operation(
                "Recent failures of every kind", {"200": _json(_object(
                    {"days": {"type": "integer"}, "counts": {"type": "object"}, "items": {"type": "array"}}),
                    "the failures"), "400": _error("a day count out of range"), **ADMIN_ERRORS},
                [_query("days", {"type": "integer", "minimum": 1, "maximum": MAX_FAILURE_DAYS, "default": 7},
                        "how many days back")], **DASHBOARD),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "a personal API token (`cv_…`)"}},
            "schemas": {"Call": CALL, "CallOrHit": CALL_OR_HIT, "Segment": SEGMENT, "Delivery": DELIVERY, "Error": ERROR},
        },
    }


@bp.get("/api/v1/openapi.json")
def openapi_json():
    return jsonify(spec())
