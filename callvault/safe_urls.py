"""Links that came from outside (Fathom, calendars, the bot service) are kept only as http(s).

A stored URL ends up as an `href`; `javascript:`, `data:` or `vbscript:` there runs script when
clicked. Browsers ignore leading/trailing spaces and control characters and drop tabs and newlines
anywhere in a URL (`java\\tscript:`), so a value with any of them inside is refused outright rather
than guessed at. Checked where URLs are stored and again where they are rendered (`safe_url` filter).

Pure functions: no I/O, no Flask.
"""
from urllib.parse import urlsplit

ALLOWED_SCHEMES = ("http", "https")
# C0 controls, space and DEL are trimmed or ignored by browsers' URL parsers.
_IGNORED_BY_BROWSERS = "".join(chr(c) for c in range(0x21)) + "\x7f"


def http_url(value) -> str | None:
    """The URL if it is an absolute http(s) URL with a host, else None."""
    if not isinstance(value, str):
        return None
    text = value.strip(_IGNORED_BY_BROWSERS)
    if not text or any(c in _IGNORED_BY_BROWSERS or c == "\\" for c in text):
        return None
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not host:
        return None
    return text
