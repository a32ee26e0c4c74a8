"""Pages of the calls a person may see, newest first, narrowed by the filters and a full-text query."""
from sqlalchemy import and_, or_, select

from ..calls.queries import CallFilters, decode_cursor, encode_cursor, filtered_calls
from ..extensions import db
from ..models import Call, User
from . import fulltext


def list_calls(user: User, filters: CallFilters, cursor: str | None = None,
               limit: int = 25) -> tuple[list[Call], str | None]:
    """Newest first. Returns (calls, next_cursor); next_cursor is None on the last page."""
    query = filtered_calls(user, filters)
    if cursor:
        started, call_id = decode_cursor(cursor)
        query = query.where(or_(Call.started_at < started, and_(Call.started_at == started, Call.id < call_id)))
    query = query.order_by(Call.started_at.desc(), Call.id.desc())
    if filters.q:  # not one SQL filter: that is slow for a common word (see fulltext.newest_matching)
        ids = fulltext.newest_matching(db.session, query, fulltext.parse(filters.q), limit + 1,
                                       fulltext.MAX_COLLECTED_LINES)
        found = {call.id: call for call in db.session.scalars(select(Call).where(Call.id.in_(ids)))}
        calls = [found[call_id] for call_id in ids]
    else:
        calls = list(db.session.scalars(query.limit(limit + 1)))
    next_cursor = encode_cursor(calls[limit - 1].started_at, calls[limit - 1].id) if len(calls) > limit else None
    return calls[:limit], next_cursor
