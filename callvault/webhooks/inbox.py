"""The Redis inbox: where the web process puts a judged webhook request before it answers.

One round trip per request (MULTI … EXEC): the claim on the webhook id (SET NX, kept as long as
the database keeps claims) and the request's log entry appended to a Redis stream. The stream is
emptied by `intake.drain_inbox` in the worker, oldest first, one recorder at a time
(INBOX_LOCK), and an entry is deleted only after its row is committed in the database, so a
crash anywhere in between leaves it in the stream to be recorded again; rows carry the entry's
receipt (unique), so recording twice never makes two rows.
"""
import json

from ..queues import get_redis

STREAM = "callvault:webhooks:inbox"
DEAD_LETTERS = "callvault:webhooks:inbox-unrecordable"  # entries that can never become rows, kept to look at
DEAD_LETTERS_KEPT = 1000
CLAIM_PREFIX = "callvault:webhooks:claim:"
DRAIN_REQUESTED = "callvault:webhooks:drain-requested"
INBOX_LOCK = "callvault:webhooks:inbox-recorder"
DRAIN_REQUEST_TTL = 30  # seconds: a drain request whose job was lost is made again after this


def push(entry: dict, claim: tuple[str, str] | None, claim_ttl_seconds: int) -> tuple[bool | None, bool]:
    """Append `entry`; with `claim` (source, webhook id) also claim it. Returns (won the claim or None
    without one, whether a drain should be queued: no drain was requested in the last DRAIN_REQUEST_TTL).
    Raises redis.RedisError when Redis cannot take it."""
    with get_redis().pipeline(transaction=True) as pipe:
        if claim is not None:
            pipe.set(claim_key(*claim), entry["receipt"], nx=True, ex=claim_ttl_seconds)
        pipe.xadd(STREAM, {"entry": json.dumps(entry, separators=(",", ":"))})
        pipe.set(DRAIN_REQUESTED, 1, nx=True, ex=DRAIN_REQUEST_TTL)
        results = pipe.execute()
    won = bool(results[0]) if claim is not None else None
    return won, bool(results[-1])


def claim_key(source: str, webhook_id: str) -> str:
    return f"{CLAIM_PREFIX}{source}:{webhook_id}"


def read(count: int) -> list[tuple[str, dict | None]]:
    """The oldest `count` entries, (stream id, entry); the entry is None if it cannot be read."""
    return [(_text(entry_id), _parsed(fields)) for entry_id, fields in get_redis().xrange(STREAM, count=count)]


def _parsed(fields: dict) -> dict | None:
    try:
        entry = json.loads(fields[b"entry"])
    except (KeyError, ValueError):
        return None
    return entry if isinstance(entry, dict) else None


def set_aside(entry_id: str, error: str) -> None:
    """Move an entry that can never be recorded out of the inbox (it would hold up every one behind it)
    onto DEAD_LETTERS, with why; the newest DEAD_LETTERS_KEPT are kept."""
    connection = get_redis()
    fields = (connection.xrange(STREAM, min=entry_id, max=entry_id) or [(None, {})])[0][1]
    with connection.pipeline(transaction=True) as pipe:
        pipe.xadd(DEAD_LETTERS, {**fields, b"error": error[:500], b"inbox_id": entry_id},
                  maxlen=DEAD_LETTERS_KEPT, approximate=True)
        pipe.xdel(STREAM, entry_id)
        pipe.execute()


def remove(entry_ids: list[str]) -> None:
    if entry_ids:
        get_redis().xdel(STREAM, *entry_ids)


def waiting() -> int:
    """How many requests were answered and are not yet recorded in the database."""
    return get_redis().xlen(STREAM)


def drain_started() -> None:
    """A drain is running: a request from now on asks for another one."""
    get_redis().delete(DRAIN_REQUESTED)


def request_drain() -> bool:
    """True if no drain was requested lately (the caller then queues one)."""
    return bool(get_redis().set(DRAIN_REQUESTED, 1, nx=True, ex=DRAIN_REQUEST_TTL))


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value
