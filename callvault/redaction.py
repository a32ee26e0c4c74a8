"""Request targets as they may be written to a log: without the secrets some URLs carry.

Transcript-viewer links carry a 30-day token in `?token=`, OAuth callbacks a code and state, and a
user's personal Fathom webhook URL is itself the key (`/webhooks/fathom/<key>`). Used by the app's
request log (`logs.py`) and gunicorn's access log (`gunicorn_logging.py`).

Pure functions: no I/O, no Flask.
"""
import re
from urllib.parse import quote, unquote, unquote_plus

REDACTED = "[redacted]"
# Query parameters whose value is a secret: any name containing one of these words, in any case.
SECRET_PARAM_WORDS = ("token", "key", "secret", "password", "code", "state", "signature", "sig", "auth")
SECRET_HEADERS = ("authorization", "cookie", "set-cookie", "x-csrftoken", "webhook-signature",
                  "x-webhook-signature", "x-goog-channel-token")
# The personal Fathom webhook URL is the key: everything after the prefix (the route takes a path).
_WEBHOOK_KEY_PATH = re.compile(r"^(/+webhooks/+fathom/+).+", re.IGNORECASE | re.DOTALL)


def redact_path(path: str | None) -> str | None:
    """The path with a webhook key replaced; percent-encoded spellings of the prefix are caught too."""
    if not path:
        return path
    if _WEBHOOK_KEY_PATH.match(unquote(path)):
        return "/webhooks/fathom/" + REDACTED
    return path


def redact_query(query: str | None) -> str | None:
    """The query string with the value of every secret-looking parameter replaced, the rest as sent.
    A value that is itself a URL with a query (the login page's `next=`) is redacted in turn."""
    if not query:
        return query
    pieces = []
    for piece in query.split("&"):
        name, equals, value = piece.partition("=")
        if equals and any(word in unquote_plus(name).lower() for word in SECRET_PARAM_WORDS):
            piece = f"{name}={REDACTED}"
        elif "?" in (inner := unquote_plus(value)) or _WEBHOOK_KEY_PATH.match(unquote(inner)):
            redacted = redact_target(inner)
            if redacted != inner:
                piece = f"{name}={quote(redacted, safe='/[]')}"
        pieces.append(piece)
    return "&".join(pieces)


def redact_target(target: str | None) -> str | None:
    """A request target or a full URL (e.g. a Referer): path and query redacted, fragment dropped."""
    if not target:
        return target
    target = target.split("#", 1)[0]
    before_query, question, query = target.partition("?")
    scheme_host, path = "", before_query
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/]*)(.*)$", before_query, re.DOTALL)
    if match:
        scheme_host, path = match.groups()
    return scheme_host + (redact_path(path) or "") + (question + (redact_query(query) or "") if question else "")
