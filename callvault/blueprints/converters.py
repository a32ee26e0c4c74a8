"""URL converters: ids in paths are database integers, so a number no row can have is a plain 404."""
from werkzeug.routing import IntegerConverter

from ..ids import MAX_ID


class IdConverter(IntegerConverter):
    """`<int:…>` bounded to 0…MAX_ID: a larger number does not match the rule (404) instead of reaching
    the database, where PostgreSQL refuses it and SQLite overflows past 2^63."""

    regex = r"\d{1,10}"  # a 4,000-digit number is not even parsed

    def __init__(self, map, fixed_digits=0, min=0, max=MAX_ID, signed=False):  # noqa: A002 (werkzeug's names)
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def init_app(app) -> None:
    """Registered before the blueprints, so every `<int:…>` rule uses it."""
    app.url_map.converters["int"] = IdConverter
