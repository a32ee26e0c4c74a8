"""Provider event payloads turned into one shape (pure functions, unit-tested with real payloads)."""
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..timeutil import parse_instant
from . import meeting_urls

GOOGLE_RESPONSES = {"needsAction": "needs_action", "accepted": "accepted", "declined": "declined",
                    "tentative": "tentative"}
MICROSOFT_RESPONSES = {"none": "needs_action", "notResponded": "needs_action", "organizer": "accepted",
                       "accepted": "accepted", "declined": "declined", "tentativelyAccepted": "tentative"}


@dataclass
class EventData:
    provider_event_id: str
    title: str | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    is_all_day: bool = False
    organizer_email: str | None = None
    attendees: list[dict] = field(default_factory=list)  # [{email, name, response}]
    meeting_url: str | None = None
    meeting_platform: str | None = None
    is_cancelled: bool = False
    is_deleted: bool = False
    ical_uid: str | None = None
    series_id: str | None = None
    provider_updated_at: datetime | None = None
    raw: dict | None = None


def from_google(item: dict) -> EventData:
    """A Google events.list item. A deleted or cancelled event has status "cancelled"; in an
    incremental sync it may carry nothing but its id."""
    start, all_day = _google_time(item.get("start"))
    end, _ = _google_time(item.get("end"))
    link = meeting_urls.from_google_event(item)
    organizer = item.get("organizer") or {}
    attendees = [{"email": _email(a.get("email")), "name": a.get("displayName"),
                  "response": GOOGLE_RESPONSES.get(a.get("responseStatus"), "needs_action")}
                 for a in item.get("attendees") or [] if isinstance(a, dict) and not a.get("resource")]
    return EventData(
        provider_event_id=str(item["id"]), title=item.get("summary"), start_at=start, end_at=end, is_all_day=all_day,
        organizer_email=_email(organizer.get("email")), attendees=attendees,
        meeting_url=link.url if link else None, meeting_platform=link.platform if link else None,
        is_cancelled=item.get("status") == "cancelled", ical_uid=item.get("iCalUID"),
        series_id=item.get("recurringEventId"), provider_updated_at=parse_instant(item.get("updated")), raw=item)


def from_microsoft(item: dict) -> EventData:
    """A calendarView delta item. Removed events come as {"id", "@removed": {"reason": …}}."""
    if "@removed" in item:
        return EventData(provider_event_id=str(item["id"]), is_deleted=True, raw=item)
    all_day = bool(item.get("isAllDay"))
    link = meeting_urls.from_microsoft_event(item)
    organizer = (item.get("organizer") or {}).get("emailAddress") or {}
    attendees = []
    for attendee in item.get("attendees") or []:
        if not isinstance(attendee, dict) or attendee.get("type") == "resource":
            continue
        address = attendee.get("emailAddress") or {}
        response = (attendee.get("status") or {}).get("response")
        attendees.append({"email": _email(address.get("address")), "name": address.get("name"),
                          "response": MICROSOFT_RESPONSES.get(response, "needs_action")})
    return EventData(
        provider_event_id=str(item["id"]), title=item.get("subject"), start_at=_microsoft_time(item.get("start")),
        end_at=_microsoft_time(item.get("end")), is_all_day=all_day, organizer_email=_email(organizer.get("address")),
        attendees=attendees, meeting_url=link.url if link else None, meeting_platform=link.platform if link else None,
        is_cancelled=bool(item.get("isCancelled")), ical_uid=item.get("iCalUId"), series_id=item.get("seriesMasterId"),
        provider_updated_at=parse_instant(item.get("lastModifiedDateTime")), raw=item)


def _email(value) -> str | None:
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


def _google_time(value) -> tuple[datetime | None, bool]:
    """{"dateTime": RFC 3339} or, for an all-day event, {"date": "YYYY-MM-DD"} (midnight UTC)."""
    if not isinstance(value, dict):
        return None, False
    if value.get("dateTime"):
        return parse_instant(value["dateTime"]), False
    try:
        return datetime.combine(date.fromisoformat(value.get("date") or ""), time.min, tzinfo=timezone.utc), True
    except ValueError:
        return None, False


def _microsoft_time(value) -> datetime | None:
    """{"dateTime": "2026-03-02T15:00:00.0000000", "timeZone": "UTC"}: we ask Graph for UTC, but
    honour another IANA zone if one comes back."""
    if not isinstance(value, dict):
        return None
    moment = parse_instant(value.get("dateTime"))
    zone = value.get("timeZone") or "UTC"
    if moment is None or zone == "UTC":
        return moment
    try:
        return moment.replace(tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)
    except (ZoneInfoNotFoundError, ValueError):
        return moment
