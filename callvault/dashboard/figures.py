"""The health dashboard's figures as plain data: the page and the JSON APIs show the same numbers.

Days are UTC days. Each pipeline stage and each kind of failure is one small function; one whose
feature is not set up reports status "not_set_up" with a null count, never a fake zero.
"""
import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import redis
from rq import Queue, Worker
from rq.registry import FailedJobRegistry, StartedJobRegistry
from sqlalchemy import exists, func, not_, select

from .. import signals
from ..bots import stats as bot_stats
from ..bots.lifecycle import DEFAULT_MEETING, meeting_end
from ..exports.outbox import configured_targets
from ..extensions import db
from ..calendars.connections import DISCONNECTED_BY_OWNER
from ..models import (DELIVERY_STATES, GAVE_UP, SOURCES, WORK_STATES, Calendar, CalendarEvent, Call, CallExport,
                      ExportBundle, FathomConnection, OutgoingWebhook, SyncJob, SyncJobItem, User, WebhookDelivery,
                      utcnow)
from ..queues import QUEUE_NAMES, scheduler_heartbeat_age
from ..timeutil import EARLIEST, LATEST, parse_instant

MAX_FAILURE_DAYS = 90
FAILURES_PER_KIND = 50
EVENTS_CALLS_LIMIT = 500
EVENTS_LIMIT = 500


class FigureError(ValueError):
    """A date or day count that cannot be understood; the message is safe to show."""


def parse_day(value: str | None, today: date | None = None) -> date:
    if not value:
        return today or utcnow().date()
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise FigureError("date must be a day written YYYY-MM-DD, e.g. 2026-11-02") from None
    if not EARLIEST.date() <= day <= LATEST.date():
        raise FigureError(f"date must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return day


def parse_days(value: str | None, default: int = 7) -> int:
    if value is None or value == "":
        return default
    try:
        days = int(value)
    except ValueError:
        raise FigureError(f"days must be a whole number from 1 to {MAX_FAILURE_DAYS}") from None
    if not 1 <= days <= MAX_FAILURE_DAYS:
        raise FigureError(f"days must be a whole number from 1 to {MAX_FAILURE_DAYS}")
    return days


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _count_by(column, *where) -> dict[str, int]:
    rows = db.session.execute(select(column, func.count()).where(*where).group_by(column))
    return {key: n for key, n in rows}


# --- the pipeline: calendar event → bot → transcript → export ----------------------------------

@dataclass
class Stage:
    key: str
    label: str
    count: int | None
    status: str = "ok"  # ok | not_set_up | not_configured
    note: str | None = None


def _day_meetings(start, end):
    """Live calendar events of the day that have a meeting link."""
    return (CalendarEvent.start_at >= start, CalendarEvent.start_at < end, CalendarEvent.meeting_url.is_not(None),
            CalendarEvent.is_deleted.is_(False), CalendarEvent.is_cancelled.is_(False))


def calendar_events_stage(start, end) -> Stage:
    """Meetings (a link at a time: the same meeting on several attendees' calendars counts once)."""
    label = "Calendar events with a meeting link"
    if not db.session.scalar(select(exists().where(Calendar.id.is_not(None)))):
        return Stage("calendar_events", label, 0, "ok", "no calendar connected")
    meetings = select(CalendarEvent.meeting_url, CalendarEvent.start_at).where(*_day_meetings(start, end)).distinct()
    count = db.session.scalar(select(func.count()).select_from(meetings.subquery()))
    events = db.session.scalar(select(func.count()).select_from(CalendarEvent).where(*_day_meetings(start, end)))
    note = f"{events} events on attendees' calendars" if events != count else None
    return Stage("calendar_events", label, count, "ok", note)


def bots_scheduled_stage(start, end) -> Stage:
    """Bots meant to join that day (cancelled ones are not); `bot_stats.by_state` splits them by state."""
    return Stage("bots_scheduled", "Bots scheduled", bot_stats.scheduled_count(start, end))


def bots_joined_stage(start, end) -> Stage:
    return Stage("bots_joined", "Bots joined", bot_stats.joined_count(start, end))


def bots_ended_stage(start, end) -> Stage:
    return Stage("bots_ended", "Bots ended", bot_stats.ended_count(start, end))


def transcripts_stored_stage(start, end) -> Stage:
    count = db.session.scalar(select(func.count()).select_from(Call)
                              .where(Call.started_at >= start, Call.started_at < end))
    return Stage("transcripts_stored", "Transcripts stored", count)


def exported_stage(start, end) -> Stage:
    label = "Exported"
    if not configured_targets():
        return Stage("exported", label, None, "not_configured", "EXPORT_DATABASE_URL / EXPORT_WEBHOOK_URL not set")
    has_export = exists().where(CallExport.call_id == Call.id)
    has_undone = exists().where(CallExport.call_id == Call.id, CallExport.status != "done")
    count = db.session.scalar(select(func.count()).select_from(Call).where(
        Call.started_at >= start, Call.started_at < end, has_export, not_(has_undone)))
    return Stage("exported", label, count)


PIPELINE_STAGES = (calendar_events_stage, bots_scheduled_stage, bots_joined_stage, bots_ended_stage,
                   transcripts_stored_stage, exported_stage)


def webhook_figures(start=None, end=None) -> dict:
    where = [WebhookDelivery.source == "fathom"]
    if start is not None:
        where += [WebhookDelivery.received_at >= start, WebhookDelivery.received_at < end]
    by_status = _count_by(WebhookDelivery.status, *where)
    return {"received": sum(by_status.values()), "processed": by_status.get("success", 0),
            "failed": by_status.get("failed", 0), "rejected": by_status.get("rejected", 0),
            "duplicate": by_status.get("duplicate", 0), "pending": by_status.get("pending", 0)}


def sync_job_figures(start=None, end=None) -> dict:
    where = [] if start is None else [SyncJob.created_at >= start, SyncJob.created_at < end]
    rows = db.session.execute(select(SyncJob.status, func.count(), func.coalesce(func.sum(SyncJob.failed), 0))
                              .where(*where).group_by(SyncJob.status)).all()
    by_status = {status: n for status, n, _ in rows}
    # Distinct calls: a meeting synced by three jobs is one meeting, and one skipped as unchanged is none.
    synced = db.session.scalar(select(func.count(func.distinct(SyncJobItem.call_id))).join(SyncJob).where(
        SyncJobItem.status == "done", SyncJobItem.call_id.is_not(None), *where))
    return {"total": sum(by_status.values()),
            **{state: by_status.get(state, 0) for state in WORK_STATES},
            "meetings_synced": synced,
            "meetings_failed": sum(int(failed) for _, _, failed in rows)}


def export_figures(start=None, end=None) -> dict:
    """Per target: how many calls it holds (done), is waiting for (pending) or failed to take."""
    query = select(CallExport.target, CallExport.status, func.count()).group_by(CallExport.target,
                                                                                CallExport.status)
    if start is not None:
        query = query.join(Call, Call.id == CallExport.call_id).where(Call.started_at >= start,
                                                                      Call.started_at < end)
    figures = {target: {"done": 0, "pending": 0, "failed": 0} for target in ("database", "webhook")}
    for target, status, n in db.session.execute(query):
        figures.setdefault(target, {})[status] = n
    return {"configured_targets": configured_targets(), **figures}


def pipeline(day: date) -> dict:
    start, end = day_bounds(day)
    return {
        "date": day.isoformat(),
        "stages": [asdict(stage(start, end)) for stage in PIPELINE_STAGES],
        "fathom_webhooks": webhook_figures(start, end),
        "sync_jobs": sync_job_figures(start, end),
        "exports": export_figures(start, end),
    }


# --- one day's events ---------------------------------------------------------------------------

def attach_bots(items: list[dict], start, end, now: datetime | None = None) -> None:
    """Give each calendar meeting of the day its `bot` ({id, state, join_at} or None), `call_id`, and
    `can_send_now`: the meeting is running and no bot is in it (late join)."""
    now = now or utcnow()
    bots = {(url, _iso(join_at)): bot for (url, join_at), bot in bot_stats.for_meetings(start, end).items()}
    for item in items:
        bot = bots.get((item["meeting_url"], item["start"]))
        item["bot"] = {"id": bot.id, "state": bot.state, "join_at": _iso(bot.join_at),
                       "reason": bot.state_reason} if bot else None
        item["call_id"] = bot.call_id if bot else None
        begins, ends = parse_instant(item["start"]), parse_instant(item["end"])
        running = begins is not None and begins <= now < (ends if ends and ends > begins else begins + DEFAULT_MEETING)
        item["can_send_now"] = bool(item["meeting_url"] and not item["cancelled"] and running
                                    and (bot is None or bot.state not in bot_stats.BUSY))


def calendar_events(start, end) -> tuple[list[dict], bool]:
    """The day's live calendar events, one item per meeting: the same link at the same time on several
    attendees' calendars is one meeting (one bot). Events without a link are listed too (no bot)."""
    rows = db.session.execute(
        select(CalendarEvent.id, CalendarEvent.title, CalendarEvent.start_at, CalendarEvent.end_at,
               CalendarEvent.meeting_url, CalendarEvent.meeting_platform, CalendarEvent.is_cancelled,
               CalendarEvent.organizer_email, Calendar.id.label("calendar_id"), Calendar.account_email,
               Calendar.provider, Calendar.state)
        .join(Calendar, Calendar.id == CalendarEvent.calendar_id)
        .where(CalendarEvent.start_at >= start, CalendarEvent.start_at < end, CalendarEvent.is_deleted.is_(False),
               CalendarEvent.is_all_day.is_(False))
        .order_by(CalendarEvent.start_at, CalendarEvent.id).limit(EVENTS_LIMIT + 1)).all()
    truncated = len(rows) > EVENTS_LIMIT
    items: dict[tuple, dict] = {}
    for r in rows[:EVENTS_LIMIT]:
        key = (r.meeting_url, r.start_at) if r.meeting_url else ("event", r.id)
        item = items.get(key)
        if item is None:
            item = items[key] = {"id": r.id, "title": r.title, "start": _iso(r.start_at), "end": _iso(r.end_at),
                                 "meeting_url": r.meeting_url, "platform": r.meeting_platform,
                                 "organizer_email": r.organizer_email, "cancelled": r.is_cancelled,
                                 "calendars": []}
        item["cancelled"] = item["cancelled"] and r.is_cancelled  # cancelled only if cancelled everywhere
        item["calendars"].append({"id": r.calendar_id, "account_email": r.account_email, "provider": r.provider,
                                  "state": r.state, "event_id": r.id})
    return list(items.values()), truncated


def events(day: date) -> dict:
    """The day's calendar meetings with their bots, and the meetings stored for that day."""
    start, end = day_bounds(day)
    has_calendars = db.session.scalar(select(exists().where(Calendar.id.is_not(None))))
    meetings, meetings_truncated = calendar_events(start, end) if has_calendars else ([], False)
    attach_bots(meetings, start, end)
    calls = db.session.execute(
        select(Call.id, Call.title, Call.source, Call.started_at, Call.ended_at, User.email)
        .join(User, User.id == Call.owner_id)
        .where(Call.started_at >= start, Call.started_at < end)
        .order_by(Call.started_at, Call.id).limit(EVENTS_CALLS_LIMIT + 1)).all()
    statuses: dict[int, dict] = {}
    if calls:  # the day's exports by the same bounds: an IN list of every call id cost more than the query
        for call_id, target, status, error in db.session.execute(
                select(CallExport.call_id, CallExport.target, CallExport.status, CallExport.last_error)
                .join(Call, Call.id == CallExport.call_id).where(Call.started_at >= start, Call.started_at < end)):
            statuses.setdefault(call_id, {})[target] = {"status": status, "error": error}
    return {
        "date": day.isoformat(),
        "calendar": "ok" if has_calendars else "no_calendars",
        "bots": "ok",
        "events": meetings,
        "events_truncated": meetings_truncated,
        "calls": [{"id": c.id, "title": c.title, "source": c.source, "started_at": _iso(c.started_at),
                   "ended_at": _iso(c.ended_at), "owner_email": c.email, "exports": statuses.get(c.id, {})}
                  for c in calls[:EVENTS_CALLS_LIMIT]],
        "calls_truncated": len(calls) > EVENTS_CALLS_LIMIT,
    }


# --- failures of every kind ---------------------------------------------------------------------

@dataclass
class Action:
    label: str
    endpoint: str | None = None      # a Flask endpoint, turned into a URL by the web layer
    params: dict = field(default_factory=dict)
    command: str | None = None       # the CLI way to act, for when there is no page


@dataclass
class Failure:
    kind: str
    at: datetime | None
    title: str
    detail: str | None
    action: Action


FAILURE_KINDS = {
    "missed_bot": "Missed bots",
    "webhook_failed": "Failed webhooks",
    "sync_meeting_failed": "Failed sync meetings",
    "sync_job_failed": "Failed sync jobs",
    "export_failed": "Failed exports",
    "calendar_disconnected": "Disconnected calendars",
    "fathom_needs_attention": "Fathom connections needing attention",
    "gave_up": "Given up after their worker stopped again and again",
}


def missed_bots(since, now: datetime | None = None) -> list[Failure] | None:
    """Meetings that ended with no bot (missed), bots that failed at the service or were given up stuck
    (fatal_error), and ended bots whose transcript never arrived — each with the action that fixes it."""
    failures = []
    for bot, email in bot_stats.missed(since, FAILURES_PER_KIND):
        lost = bot_stats.transcript_lost(bot)
        prefix = "Transcript never arrived: " if lost else ("Failed: " if bot.state == "fatal_error" else "")
        detail = (f"{bot.transcript_attempts} tries: {bot.transcript_error}" if lost and bot.transcript_error
                  else bot.state_reason)
        failures.append(Failure("missed_bot", bot.state_changed_at,
                                f"{prefix}{bot.title or bot.meeting_url} at {bot.join_at:%Y-%m-%d %H:%M} UTC "
                                f"({email or 'no owner'})", detail, _bot_action(bot, lost, now or utcnow())))
    return failures


def _bot_action(bot, lost: bool, now: datetime) -> Action:
    """What fixes a missed or failed bot: fetch again, send one now while the meeting runs, or the setting
    that kept every bot out; otherwise its timeline on the Bots page says why."""
    page = ("bots.detail", {"bot_id": bot.id})
    if lost:
        return Action("Fetch the transcript again", *page, f"flask bots retry-transcript {bot.id}")
    if bot.event_id and now < meeting_end(bot):
        return Action("Send a bot now: the meeting is still running", *page, f"flask bots send {bot.event_id}")
    if "ATTENDEE_API_KEY" in (bot.state_reason or ""):
        return Action("Set a valid ATTENDEE_API_KEY on the server: no bot can be sent without it", *page)
    return Action("See why on the Bots page", *page)


def disconnected_calendars(since) -> list[Failure]:
    """Calendars the provider disconnected (revoked or expired access), however long ago: they stay
    disconnected until someone reconnects them. A calendar its owner disconnected is no failure."""
    rows = db.session.execute(
        select(Calendar, User.email).join(User, User.id == Calendar.user_id)
        .where(Calendar.state == "disconnected",
               Calendar.disconnected_reason.is_(None) | (Calendar.disconnected_reason != DISCONNECTED_BY_OWNER))
        .order_by(Calendar.disconnected_at.desc(), Calendar.id.desc()).limit(FAILURES_PER_KIND))
    failures = []
    for calendar, email in rows:
        if calendar.auth_method == "service_account":
            action = Action("Reconnect (pilot calendars)", None, {}, "flask calendars setup-pilot")
        else:
            action = Action(f"Ask {email} to reconnect it in Settings", "settings.index", {"_anchor": "calendars"})
        failures.append(Failure("calendar_disconnected", calendar.disconnected_at or calendar.updated_at,
                                f"{calendar.label} of {email}", calendar.disconnected_reason, action))
    return failures


# What a failure's line shows of a delivery: its headers and body stay in the database.
_DELIVERY_LISTED = (WebhookDelivery.id, WebhookDelivery.source, WebhookDelivery.status, WebhookDelivery.received_at,
                    WebhookDelivery.processed_at, WebhookDelivery.error_message)


def failed_webhooks(since) -> list[Failure]:
    rows = db.session.execute(
        select(*_DELIVERY_LISTED).where(WebhookDelivery.status.in_(("failed", "rejected")),
                                      WebhookDelivery.received_at >= since, _not_given_up(WebhookDelivery.error_message))
        .order_by(WebhookDelivery.received_at.desc(), WebhookDelivery.id.desc()).limit(FAILURES_PER_KIND))
    return [Failure("webhook_failed", d.received_at, f"{d.source} webhook #{d.id} {d.status}",
                    d.error_message, Action("Replay", "webhook_pages.detail", {"delivery_id": d.id},
                                            f"flask webhooks replay {d.id}"))
            for d in rows]


def failed_sync_meetings(since) -> list[Failure]:
    rows = db.session.execute(
        select(SyncJobItem, SyncJob.id, SyncJob.created_at, User.email)
        .join(SyncJob, SyncJob.id == SyncJobItem.sync_job_id).join(User, User.id == SyncJob.user_id)
        .where(SyncJobItem.status == "failed", SyncJob.created_at >= since)
        .order_by(SyncJob.created_at.desc(), SyncJobItem.id.desc()).limit(FAILURES_PER_KIND))
    return [Failure("sync_meeting_failed", item.finished_at or created,
                    f"{item.title or 'Meeting ' + item.external_id} (sync job #{job_id}, {email})", item.error,
                    Action("Open Fathom sync", "fathom.sync_page", {},
                           f"flask fathom sync {email} --since {created:%Y-%m-%d}"))
            for item, job_id, created, email in rows]


def failed_sync_jobs(since) -> list[Failure]:
    rows = db.session.execute(
        select(SyncJob, User.email).join(User, User.id == SyncJob.user_id)
        .where(SyncJob.status == "failed", SyncJob.created_at >= since, _not_given_up(SyncJob.error))
        .order_by(SyncJob.created_at.desc()).limit(FAILURES_PER_KIND))
    return [Failure("sync_job_failed", job.finished_at or job.created_at, f"Sync job #{job.id} for {email}",
                    job.error, Action("Open Fathom sync", "fathom.sync_page", {},
                                      f"flask fathom sync {email} --since {job.created_at:%Y-%m-%d}"))
            for job, email in rows]


def failed_exports(since) -> list[Failure]:
    rows = db.session.execute(
        select(CallExport.call_id, CallExport.target, CallExport.last_error, CallExport.attempts,
               CallExport.next_attempt_at, CallExport.last_attempt_at, Call.title)
        .join(Call, Call.id == CallExport.call_id)
        .where(CallExport.status == "failed", CallExport.last_attempt_at >= since)
        .order_by(CallExport.last_attempt_at.desc()).limit(FAILURES_PER_KIND))
    return [Failure("export_failed", export.last_attempt_at, f"{export.title} → {export.target}",
                    f"{export.last_error} (attempt {export.attempts}"
                    + (f", next try {export.next_attempt_at:%Y-%m-%d %H:%M} UTC)" if export.next_attempt_at else ")"),
                    Action("Open call", "calls.detail", {"call_id": export.call_id}, "flask exports run"))
            for export in rows]


def fathom_connections_needing_attention(since) -> list[Failure]:
    rows = db.session.execute(
        select(FathomConnection, User.email).join(User, User.id == FathomConnection.user_id)
        .where(FathomConnection.status == "needs_attention").order_by(FathomConnection.updated_at.desc())
        .limit(FAILURES_PER_KIND))
    return [Failure("fathom_needs_attention", c.last_checked_at or c.updated_at, f"Fathom connection of {email}",
                    c.last_error, Action("Reconnect in Settings", "settings.index", {},
                                         f"flask fathom test-connection {email}"))
            for c, email in rows]


def _not_given_up(message_column):
    return func.coalesce(message_column, "").notlike(GAVE_UP + "%")


def given_up_work(since) -> list[Failure]:
    """Webhook deliveries and sync jobs given up because their worker died every time they ran
    (intake.lost_attempt, tracked_work's resume limit): listed apart, as the cause is the machinery."""
    deliveries = db.session.execute(
        select(*_DELIVERY_LISTED).where(WebhookDelivery.status == "failed", WebhookDelivery.received_at >= since,
                                      WebhookDelivery.error_message.like(GAVE_UP + "%"))
        .order_by(WebhookDelivery.received_at.desc()).limit(FAILURES_PER_KIND))
    jobs = db.session.execute(
        select(SyncJob, User.email).join(User, User.id == SyncJob.user_id)
        .where(SyncJob.status == "failed", SyncJob.created_at >= since, SyncJob.error.like(GAVE_UP + "%"))
        .order_by(SyncJob.created_at.desc()).limit(FAILURES_PER_KIND))
    return ([Failure("gave_up", d.processed_at or d.received_at, f"{d.source} webhook #{d.id}", d.error_message,
                     Action("Replay", "webhook_pages.detail", {"delivery_id": d.id}, f"flask webhooks replay {d.id}"))
             for d in deliveries]
            + [Failure("gave_up", job.finished_at or job.created_at, f"Sync job #{job.id} for {email}", job.error,
                       Action("Open Fathom sync", "fathom.sync_page", {},
                              f"flask fathom sync {email} --since {job.created_at:%Y-%m-%d}"))
               for job, email in jobs])


FAILURE_SOURCES = {
    "missed_bot": missed_bots,
    "webhook_failed": failed_webhooks,
    "sync_meeting_failed": failed_sync_meetings,
    "sync_job_failed": failed_sync_jobs,
    "export_failed": failed_exports,
    "calendar_disconnected": disconnected_calendars,
    "fathom_needs_attention": fathom_connections_needing_attention,
    "gave_up": given_up_work,
}


def failures(days: int, now: datetime | None = None) -> dict:
    """Failures of the last `days` days, newest first, at most FAILURES_PER_KIND of each kind.

    A kind whose feature is not set up has a null count. Fathom connections needing attention and
    disconnected calendars are listed however old: they stay broken until someone fixes them.
    """
    since = (now or utcnow()) - timedelta(days=days)
    items, counts = [], {}
    for kind, source in FAILURE_SOURCES.items():
        found = source(since)
        counts[kind] = None if found is None else len(found)
        items += found or []
    epoch = datetime.min.replace(tzinfo=timezone.utc)
    items.sort(key=lambda f: f.at or epoch, reverse=True)
    return {"days": days, "since": _iso(since), "limit_per_kind": FAILURES_PER_KIND, "counts": counts,
            "items": [{"kind": f.kind, "label": FAILURE_KINDS[f.kind], "at": _iso(f.at), "title": f.title,
                       "detail": f.detail, "action": dict(vars(f.action))} for f in items]}


# --- the machinery: queues, workers, scheduler --------------------------------------------------

def machinery(connection, stale_after_seconds: int, inprocess: bool) -> dict:
    figures = {"mode": "in-process" if inprocess else "redis", "redis": "ok", "queues": [], "failed_jobs": 0,
               "workers": [], "scheduler": {"heartbeat_age_seconds": None, "stale": True,
                                            "stale_after_seconds": stale_after_seconds}}
    try:
        for name in QUEUE_NAMES:
            queue = Queue(name, connection=connection)
            failed = FailedJobRegistry(queue=queue).count
            figures["queues"].append({"name": name, "queued": queue.count, "failed": failed,
                                      "running": StartedJobRegistry(queue=queue).count})
            figures["failed_jobs"] += failed
        figures["workers"] = [{"name": w.name, "state": str(w.get_state())}
                              for w in Worker.all(connection=connection)]
        age = scheduler_heartbeat_age(connection)
    except redis.RedisError as exc:
        figures["redis"] = f"unreachable ({type(exc).__name__})"
        return figures
    figures["scheduler"].update(heartbeat_age_seconds=None if age is None else round(age, 1),
                                stale=age is None or age > stale_after_seconds)
    return figures


# --- all-time figures and the 30-day chart -----------------------------------------------------

def calls_per_day(days: int = 30, today: date | None = None) -> list[dict]:
    today = today or utcnow().date()
    first = today - timedelta(days=days - 1)
    start, _ = day_bounds(first)
    _, end = day_bounds(today)
    day = func.date(Call.started_at)
    counts = {str(d)[:10]: n for d, n in db.session.execute(
        select(day, func.count()).where(Call.started_at >= start, Call.started_at < end).group_by(day))}
    return [{"date": (first + timedelta(days=i)).isoformat(),
             "count": counts.get((first + timedelta(days=i)).isoformat(), 0)} for i in range(days)]


def deliveries_per_day(days: int = 14, today: date | None = None) -> list[dict]:
    """Webhook deliveries received per day (every source), by status: the stacked chart's points."""
    today = today or utcnow().date()
    first = today - timedelta(days=days - 1)
    start, _ = day_bounds(first)
    _, end = day_bounds(today)
    day = func.date(WebhookDelivery.received_at)
    counts: dict[str, dict[str, int]] = {}
    rows = db.session.execute(select(day, WebhookDelivery.status, func.count()).where(
        WebhookDelivery.received_at >= start, WebhookDelivery.received_at < end).group_by(day, WebhookDelivery.status))
    for d, status, n in rows:
        counts.setdefault(str(d)[:10], {})[status] = n
    return [{"date": (first + timedelta(days=i)).isoformat(),
             **{status: counts.get((first + timedelta(days=i)).isoformat(), {}).get(status, 0)
                for status in DELIVERY_STATES}} for i in range(days)]


def job_durations(limit: int = 20) -> list[dict]:
    """The last finished Fathom syncs and export zips, oldest first, with how long each ran (seconds)."""
    rows = []
    for model, kind in ((SyncJob, "sync"), (ExportBundle, "zip")):
        finished = select(model).where(model.started_at.is_not(None), model.finished_at.is_not(None))
        for row in db.session.scalars(finished.order_by(model.finished_at.desc()).limit(limit)):
            rows.append({"kind": kind, "id": row.id, "status": str(row.status), "finished_at": _iso(row.finished_at),
                         "seconds": max(0, int((row.finished_at - row.started_at).total_seconds()))})
    rows.sort(key=lambda r: r["finished_at"])
    return rows[-limit:]


def calendar_figures() -> dict:
    by_state = _count_by(Calendar.state)
    upcoming = db.session.scalar(select(func.count()).select_from(CalendarEvent).where(
        CalendarEvent.start_at >= utcnow(), CalendarEvent.meeting_url.is_not(None),
        CalendarEvent.is_deleted.is_(False), CalendarEvent.is_cancelled.is_(False)))
    return {"total": sum(by_state.values()), "connected": by_state.get("connected", 0),
            "disconnected": by_state.get("disconnected", 0), "upcoming_events_with_link": upcoming}


def summary(machinery_figures: dict, today: date | None = None) -> dict:
    return {**stored_figures(today), "machinery": machinery_figures}


def stored_figures(today: date | None = None) -> dict:
    """The summary's figures from the database: all-time counts and the 30-day chart."""
    today = today or utcnow().date()
    by_source = _count_by(Call.source)
    first, last = db.session.execute(select(func.min(Call.started_at), func.max(Call.started_at))).one()
    week_start, _ = day_bounds(today - timedelta(days=6))
    connections = _count_by(FathomConnection.status)
    bot_by_state = bot_stats.by_state()
    return {
        "generated_at": _iso(utcnow()),
        "calls": {"total": sum(by_source.values()), "by_source": {s: by_source.get(s, 0) for s in SOURCES},
                  "last_7_days": db.session.scalar(select(func.count()).select_from(Call)
                                                   .where(Call.started_at >= week_start)),
                  "first_started_at": _iso(first), "last_started_at": _iso(last)},
        "users": _count_by(User.role),
        "fathom_connections": {"total": sum(connections.values()),
                               "needs_attention": connections.get("needs_attention", 0)},
        "fathom_webhooks": webhook_figures(),
        "sync_jobs": sync_job_figures(),
        "exports": export_figures(),
        "outgoing_webhooks": _count_by(OutgoingWebhook.status),
        "calendars": calendar_figures(),
        "bots": {"status": "ok", "total": sum(bot_by_state.values()), "missed": bot_by_state.get("missed", 0),
                 "failed": bot_by_state.get("fatal_error", 0), "by_state": bot_by_state},
        "calls_per_day": calls_per_day(30, today),
        "deliveries_per_day": deliveries_per_day(14, today),
        "job_durations": job_durations(),
    }


SUMMARY_CACHE_KEY = "callvault:dashboard:summary:{day}"
SUMMARY_REFRESH_KEY = "callvault:dashboard:summary-refresh:{day}"
STALE_SERVED_FOR = 8  # TTLs past its TTL a kept summary is still shown while a worker computes it again


def cached_summary(connection, machinery_figures: dict, ttl_seconds: int, today: date | None = None) -> dict:
    """`summary`, its database figures kept in Redis (they scan every call, delivery and export; a page
    refresh and the JSON API then share one computation). `generated_at` says when they were computed.

    Kept figures older than `ttl_seconds` are still shown while a worker computes them again
    (signals.dashboard_figures_stale, asked at most once per TTL), so no request waits for the scan
    (~100 ms at 50,000 calls; it was the dashboard's slowest 5%). Only when none are kept (never
    computed, or no worker refreshed them for STALE_SERVED_FOR TTLs) does the request compute them.
    The machinery figures are always live; without Redis, or with a TTL of 0, so are the others."""
    today = today or utcnow().date()
    if ttl_seconds <= 0:
        return summary(machinery_figures, today)
    try:
        kept = connection.get(SUMMARY_CACHE_KEY.format(day=today.isoformat()))
    except redis.RedisError:
        return summary(machinery_figures, today)
    if kept is None:
        return {**keep_summary(connection, ttl_seconds, today), "machinery": machinery_figures}
    figures = json.loads(kept)
    computed = parse_instant(figures.get("generated_at"))
    if computed is None or (utcnow() - computed).total_seconds() >= ttl_seconds:
        _ask_for_refresh(connection, ttl_seconds, today)
    return {**figures, "machinery": machinery_figures}


def keep_summary(connection, ttl_seconds: int, today: date | None = None) -> dict:
    """Compute the summary's database figures and keep them in Redis (the refresh job, or a request
    that found none kept); a Redis error only loses the keeping."""
    today = today or utcnow().date()
    figures = stored_figures(today)
    try:
        connection.set(SUMMARY_CACHE_KEY.format(day=today.isoformat()), json.dumps(figures),
                       ex=ttl_seconds * (1 + STALE_SERVED_FOR))
    except redis.RedisError:
        pass  # the figures are right; the next request computes them again
    return figures


def _ask_for_refresh(connection, ttl_seconds: int, today: date) -> None:
    try:
        first = connection.set(SUMMARY_REFRESH_KEY.format(day=today.isoformat()), 1, nx=True, ex=ttl_seconds)
    except redis.RedisError:
        return
    if first:
        signals.dashboard_figures_stale.send(None, day=today.isoformat())
