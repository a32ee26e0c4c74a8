"""Reading timestamps: the ones external services send, and the ones people type into filters."""
from datetime import datetime, timezone

# Every instant we keep or compare is within these, so adding or taking a day never overflows.
EARLIEST = datetime(1, 1, 2, tzinfo=timezone.utc)
LATEST = datetime(9999, 12, 30, tzinfo=timezone.utc)


def as_utc(moment: datetime) -> datetime | None:
    """`moment` as aware UTC (naive ones are taken as UTC), or None if it falls outside EARLIEST…LATEST,
    e.g. `9999-12-31T23:59:59-23:59`, which is in the year 10000 in UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        moment = moment.astimezone(timezone.utc)
    except OverflowError:
        return None
    return moment if EARLIEST <= moment <= LATEST else None


def parse_instant(value) -> datetime | None:
    """An RFC 3339 / ISO 8601 timestamp as aware UTC (naive ones are taken as UTC); None if missing,
    malformed or out of range."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return as_utc(moment)
