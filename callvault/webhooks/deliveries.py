"""Reading the deliveries log: filters, keyset (cursor) pagination, JSON form."""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from ..calls.queries import QueryError, decode_cursor, encode_cursor, parse_datetime
from ..extensions import db
from ..models import DELIVERY_STATES, WebhookDelivery


@dataclass
class DeliveryFilters:
    status: str | None = None
    endpoint: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def parse_filters(status=None, endpoint=None, since=None, until=None) -> DeliveryFilters:
    """`until` given as a bare date includes that whole day."""
    if status and status not in DELIVERY_STATES:
        raise QueryError(f"status must be one of: {', '.join(DELIVERY_STATES)}")
    until_at = parse_datetime(until, "until")
    if until_at and until and "T" not in until:
        until_at += timedelta(days=1)
    return DeliveryFilters(status=status or None, endpoint=endpoint or None,
                           since=parse_datetime(since, "since"), until=until_at)


def endpoints() -> list[str]:
    """The endpoints that have deliveries (few: URL rules, not concrete paths)."""
    return list(db.session.scalars(select(WebhookDelivery.endpoint).distinct().order_by(WebhookDelivery.endpoint)))


def list_deliveries(filters: DeliveryFilters, cursor: str | None = None,
                    limit: int = 50) -> tuple[list[WebhookDelivery], str | None]:
    """Newest first. Returns (deliveries, next_cursor); next_cursor is None on the last page."""
    query = select(WebhookDelivery)
    if filters.status:
        query = query.where(WebhookDelivery.status == filters.status)
    if filters.endpoint:
        query = query.where(WebhookDelivery.endpoint == filters.endpoint)
    if filters.since:
        query = query.where(WebhookDelivery.received_at >= filters.since)
    if filters.until:
        query = query.where(WebhookDelivery.received_at < filters.until)
    if cursor:
        received, delivery_id = decode_cursor(cursor)
        query = query.where(or_(WebhookDelivery.received_at < received,
                                and_(WebhookDelivery.received_at == received, WebhookDelivery.id < delivery_id)))
    query = query.order_by(WebhookDelivery.received_at.desc(), WebhookDelivery.id.desc()).limit(limit + 1)
    rows = list(db.session.scalars(query))
    next_cursor = encode_cursor(rows[limit - 1].received_at, rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def delivery_to_json(delivery: WebhookDelivery) -> dict:
    return {
        "id": delivery.id, "received_at": _iso(delivery.received_at), "source": delivery.source,
        "endpoint": delivery.endpoint, "webhook_id": delivery.webhook_id, "status": delivery.status,
        "signature_valid": delivery.signature_valid, "error_message": delivery.error_message,
        "body_size": delivery.body_size, "body_cap": delivery.body_cap, "body_truncated": delivery.body_truncated,
        "user_id": delivery.user_id, "call_id": delivery.call_id, "attempts": delivery.attempts,
        "processed_at": _iso(delivery.processed_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
