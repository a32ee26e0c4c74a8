"""Database ids: every primary key is an INTEGER, so only 1…2^31-1 can name a row."""

MAX_ID = 2 ** 31 - 1  # PostgreSQL refuses larger INTEGERs; SQLite overflows past 2^63


def parse_id(value) -> int | None:
    """An id given as text (e.g. `/api/v1/calls/<call_id>`) as an int, or None if no row can have it."""
    text = str(value)
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID))):
        return None
    number = int(text)
    return number if number <= MAX_ID else None
