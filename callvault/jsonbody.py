"""Reading JSON bodies from senders we do not trust (webhooks, push notifications): bounded in size and
in nesting depth before the parser sees them, so `[[[[…` 100,000 deep is a clear refusal, not a
RecursionError."""
import json
import re

MAX_DEPTH = 64  # Fathom, Attendee and Graph payloads nest fewer than 10 levels
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = bytes(byte for byte in range(256) if byte not in b"[]{}")


class JSONBodyError(ValueError):
    """The body is not JSON we read; the message is safe to show to the sender."""


def nesting_depth(raw: bytes, stop_after: int) -> int:
    """How deep `raw`'s arrays and objects nest (brackets inside strings do not count); counting stops
    past `stop_after`."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > stop_after:
                break
    return deepest


def loads(body: bytes | str, *, max_depth: int = MAX_DEPTH, max_bytes: int | None = None):
    """`body` parsed as JSON, or JSONBodyError saying why not."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    if max_bytes is not None and len(raw) > max_bytes:
        raise JSONBodyError(f"the body is larger than {max_bytes} bytes")
    if nesting_depth(raw, max_depth) > max_depth:
        raise JSONBodyError(f"the JSON nests deeper than {max_depth} levels")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeError is a ValueError: bad UTF-8, lone surrogates
        raise JSONBodyError("the body is not JSON") from None
