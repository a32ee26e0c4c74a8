"""Reading JSON bodies from senders we do not trust (webhooks, push notifications): bounded in size and
in nesting depth, so `[[[[…` 100,000 deep is a clear refusal, not a RecursionError.

The depth is measured on what the parser built (the C parser stops at the interpreter's recursion
limit with a RecursionError, which is refused the same way): scanning the raw bytes for brackets
outside strings first cost more than the parse itself on a 13 KB webhook body."""
import json

MAX_DEPTH = 64  # Fathom, Attendee and Graph payloads nest fewer than 10 levels


class JSONBodyError(ValueError):
    """The body is not JSON we read; the message is safe to show to the sender."""


def nesting_depth(value, stop_after: int) -> int:
    """How deep a parsed JSON value's arrays and objects nest; counting stops past `stop_after`."""
    deepest, level = 0, [value]
    while level:
        containers = [v for v in level if isinstance(v, (list, dict))]
        if not containers:
            break
        deepest += 1
        if deepest > stop_after:
            break
        level = [child for c in containers for child in (c.values() if isinstance(c, dict) else c)]
    return deepest


def loads(body: bytes | str, *, max_depth: int = MAX_DEPTH, max_bytes: int | None = None):
    """`body` parsed as JSON, or JSONBodyError saying why not."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    if max_bytes is not None and len(raw) > max_bytes:
        raise JSONBodyError(f"the body is larger than {max_bytes} bytes")
    try:
        value = json.loads(raw)
    except RecursionError:
        raise JSONBodyError(f"the JSON nests deeper than {max_depth} levels") from None
    except ValueError:  # UnicodeError is a ValueError: bad UTF-8, lone surrogates
        raise JSONBodyError("the body is not JSON") from None
    if nesting_depth(value, max_depth) > max_depth:
        raise JSONBodyError(f"the JSON nests deeper than {max_depth} levels")
    return value
