"""Reading the timestamps external services send."""
from datetime import datetime, timezone


def parse_instant(value) -> datetime | None:
    """An RFC 3339 / ISO 8601 timestamp as aware UTC (naive ones are taken as UTC); None if missing or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
