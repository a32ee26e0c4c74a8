"""Manual sync: a job that syncs the meetings a user picked (or every meeting in a date range).

Call budget (see docs/fathom-api.md):

- API key: one heavy page of GET /meetings with the include flags carries everything for
  10 meetings, so a job pages through /meetings and never calls per meeting.
- OAuth: /meetings may not include content, so per meeting one transcript and one summary
  call, with metadata from one listing per job. Meetings the user has just seen on the fetch
  page are remembered (in Redis, for an hour) and need no listing at all; for an API key the
  remembered dates narrow the pages a job has to read.

Progress lives in the SyncJob row, a tracked piece of work (`callvault/tracked_work.py`): the
job claims it, heartbeats after every meeting and listing page, and finishes it; recovery fails
it if the job dies. Cancelling sets `cancel_requested`, which the job reads between meetings.
The listing (the fetch page, its sync statuses, previews) is `listing.py`.
"""
from datetime import date, timedelta

import redis
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import signals, tracked_work
from ..calls.store import upsert_call
from ..extensions import db
from ..logs import log_event
from ..models import SyncJob, SyncJobItem, User, WorkStatus, utcnow
from ..timeutil import parse_instant
from .client import FathomAuthError, FathomClient, FathomError
from .credentials import NeedsAttention, client_for
from .listing import (SyncError, day_range, parse_day, remember_listing, remembered_listing,
                      require_connection, unchanged_calls)
from .mapping import NotAMeeting, meeting_to_call_data, meetings_to_call_data, recording_id_of

JOB_TIMEOUT_SECONDS = 24 * 3600  # 500 meetings over OAuth at 5 heavy calls a minute take hours
MAX_RESUMES = 3  # times a job whose worker died is queued again before it is given up

__all__ = ["SyncError", "parse_day", "day_range", "start_sync", "jobs_for", "job_for", "cancel", "retry_failed",
           "eta_seconds", "run_sync", "resume"]


def start_sync(user: User, recording_ids: list[str] | None = None, since: date | None = None,
               until: date | None = None, mine_only: bool = False, retry_of: int | None = None,
               enqueue_job: bool = True) -> SyncJob:
    """Create a sync job (selected meetings, or every meeting in the date range) and queue it.

    With `enqueue_job=False` the caller runs it (`run_sync`) in its own process, as the CLI does.
    """
    require_connection(user)
    day_range(since, until)  # validates the order
    params = {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None,
              "mine_only": mine_only}
    if retry_of:
        params["retry_of"] = retry_of
    job = SyncJob(user_id=user.id, source="fathom", status=WorkStatus.QUEUED, params=params)
    if recording_ids is not None:
        ids = list(dict.fromkeys(str(r).strip() for r in recording_ids if str(r).strip()))
        if not ids:
            raise SyncError("select at least one meeting")
        params["recording_ids"] = ids
        listed = remembered_listing(user.id, ids)
        job.items = [SyncJobItem(external_id=rid, title=(listed.get(rid, {}).get("title") or None))
                     for rid in ids]
        job.total = len(ids)
    else:
        job.listing_done = False
    db.session.add(job)
    db.session.commit()
    if not enqueue_job:
        return job
    try:
        rq_job = signals.request(signals.fathom_sync_requested, sync_job_id=job.id)
    except redis.RedisError:
        tracked_work.fail(job, "the job queue (Redis) could not be reached")
        raise SyncError("the sync could not be queued because Redis is unreachable; try again") from None
    job.rq_job_id = rq_job.id
    db.session.commit()
    log_event("fathom_sync_queued", sync_job_id=job.id, user_id=user.id, total=job.total)
    return job


def jobs_for(user: User, limit: int = 10) -> list[SyncJob]:
    """The newest jobs, with what their rows show (items; the owner, for an admin) loaded up front."""
    query = (select(SyncJob).where(SyncJob.source == "fathom").order_by(SyncJob.id.desc()).limit(limit)
             .options(selectinload(SyncJob.items)))
    if user.is_admin:
        query = query.options(selectinload(SyncJob.user))
    else:
        query = query.where(SyncJob.user_id == user.id)
    return list(db.session.scalars(query))


def job_for(user: User, job_id: int) -> SyncJob | None:
    """The job if the user may see it: their own, or any for an admin."""
    job = db.session.get(SyncJob, job_id)
    if job is None or job.source != "fathom" or not (user.is_admin or job.user_id == user.id):
        return None
    return job


def cancel(job: SyncJob) -> None:
    """A queued job ends now; a running one stops at its next meeting."""
    if job.status == WorkStatus.QUEUED and tracked_work.finish(job, WorkStatus.CANCELLED,
                                                               from_states=(WorkStatus.QUEUED,)):
        return
    if job.status == WorkStatus.RUNNING:  # reloaded after the finish above: it may have just started
        job.cancel_requested = True
        db.session.commit()


def retry_failed(user: User, job: SyncJob) -> SyncJob:
    """A new job for the meetings this one did not sync (all of its range if listing stopped early)."""
    if job.is_active:
        raise SyncError("the job is still running")
    owner = db.session.get(User, job.user_id)
    params = job.params or {}
    since, until = parse_day(params.get("since"), "since"), parse_day(params.get("until"), "until")
    if not job.listing_done:
        return start_sync(owner, since=since, until=until, mine_only=params.get("mine_only", False), retry_of=job.id)
    ids = [item.external_id for item in job.items if item.status not in ("done", "skipped")]
    if not ids:
        raise SyncError("every meeting of this job was synced; nothing to retry")
    return start_sync(owner, ids, since=since, until=until, retry_of=job.id)


def eta_seconds(job: SyncJob) -> float | None:
    processed = job.done + job.failed
    if job.status != WorkStatus.RUNNING or not job.started_at or not processed or job.total <= processed:
        return None
    elapsed = (utcnow() - job.started_at).total_seconds()
    return (job.total - processed) * elapsed / processed


def resume(job: SyncJob) -> bool:
    """Queue a job again whose worker died (tracked_work has put it back to queued). The new run
    skips the meetings already done, as every item records its own outcome; one whose store was cut
    off is done again, which `upsert_call` makes harmless. False after MAX_RESUMES resumes.
    Raises redis.RedisError when the queue is unreachable."""
    params = dict(job.params or {})
    resumes = int(params.get("resumes", 0))
    if resumes >= MAX_RESUMES:
        return False
    params["resumes"] = resumes + 1
    job.params = params
    db.session.commit()
    rq_job = signals.request(signals.fathom_sync_requested, sync_job_id=job.id)
    job.rq_job_id = rq_job.id
    db.session.commit()
    log_event("fathom_sync_resumed", sync_job_id=job.id, resumes=resumes + 1)
    return True


def run_sync(job_id: int, on_progress=None) -> SyncJob | None:
    """Run a queued job to its end. `on_progress(job)` is called after every meeting."""
    job = db.session.get(SyncJob, job_id)
    if job is None or not tracked_work.claim(job):
        return job  # cancelled before it started, or already run
    log_event("fathom_sync_started", sync_job_id=job.id)
    error = None
    try:
        user = db.session.get(User, job.user_id)
        with client_for(require_connection(user)) as client:
            runner = _JobRunner(job, user, client, on_progress)
            runner.run()
        status = WorkStatus.CANCELLED if runner.cancelled else WorkStatus.SUCCEEDED
        calls = client.calls
    except tracked_work.WorkLost:
        db.session.rollback()  # recovery failed the job meanwhile; what it shows stands
        log_event("fathom_sync_abandoned", sync_job_id=job_id)
        return job
    except (FathomError, SyncError) as exc:
        db.session.rollback()
        status, error = WorkStatus.FAILED, str(exc)
        if isinstance(exc, NeedsAttention):
            error = f"Fathom credentials need attention: {exc}"
        calls = None
    except Exception:
        db.session.rollback()
        tracked_work.fail(job, "an unexpected error stopped the job (see the logs)", current_item=None)
        raise
    tracked_work.finish(job, status, error, current_item=None)
    log_event("fathom_sync_finished", sync_job_id=job.id, status=job.status, done=job.done, failed=job.failed,
              fathom_calls=calls)
    return job


class _JobRunner:
    def __init__(self, job: SyncJob, user: User, client: FathomClient, on_progress):
        self.job, self.user, self.client, self.on_progress = job, user, client, on_progress
        self.per_recording = client.auth.kind == "oauth"
        self.items = {item.external_id: item for item in job.items}
        self.cancelled = False
        params = job.params or {}
        self.since, self.until = day_range(parse_day(params.get("since"), "since"),
                                           parse_day(params.get("until"), "until"))
        self.recorded_by = [h.email for h in user.host_emails] if params.get("mine_only") else []
        self.selected = params.get("recording_ids")

    def run(self) -> None:
        for meeting in self._meetings():
            if self._cancel_requested():
                self.cancelled = True
                return
            self._sync_one(meeting)
        for item in self.items.values():
            if item.status == "pending":
                self._fail(item, "not found in Fathom: deleted, or no longer visible to this account")
        tracked_work.heartbeat(self.job)
        db.session.commit()

    # --- which meetings, with as few calls as possible ---------------------------------------------

    def _pages(self, created_after, created_before):
        pages = self.client.iter_meeting_pages(created_after=created_after, created_before=created_before,
                                               recorded_by=self.recorded_by, include_content=not self.per_recording)
        for page in pages:
            remember_listing(self.user.id, page["items"])
            tracked_work.heartbeat(self.job)  # a page can take a while under the heavy limit
            db.session.commit()
            yield page

    def _meetings(self):
        if self.selected is None:
            yield from self._meetings_in_range()
            return
        pending = [rid for rid, item in self.items.items() if item.status == "pending"]
        listed = remembered_listing(self.user.id, pending)
        if self.per_recording:
            for rid in pending:
                if rid in listed:
                    yield listed[rid]
            pending = [rid for rid in pending if rid not in listed]
        if not pending:
            return
        after, before = self.since, self.until
        created = [parse_instant(listed[rid].get("created_at")) for rid in pending if rid in listed]
        if created and len(created) == len(pending) and all(created):
            after, before = min(created) - timedelta(seconds=1), max(created) + timedelta(seconds=1)
        wanted = set(pending)
        for page in self._pages(after, before):
            for meeting in page["items"]:
                rid = _rid(meeting)
                if rid in wanted:
                    wanted.discard(rid)
                    yield meeting
            if not wanted:
                return

    def _meetings_in_range(self):
        """Every meeting of the range not yet done: on a resumed job, those listed before its worker
        died and still pending, and the ones not listed yet. A meeting stored before whose listing
        has not changed since is skipped (item `skipped`, counted done): re-syncing a range fetches
        only what is new or changed."""
        for page in self._pages(self.since, self.until):
            meetings = [m for m in page["items"] if _rid(m)]
            unchanged = unchanged_calls(meetings_to_call_data(meetings))
            for meeting in meetings:
                rid = _rid(meeting)
                if rid not in self.items:
                    item = SyncJobItem(external_id=rid, title=_title(meeting))
                    if rid in unchanged:
                        item.status, item.call_id, item.finished_at = "skipped", unchanged[rid], utcnow()
                        self.job.done += 1
                    self.job.items.append(item)
                    self.items[item.external_id] = item
            self.job.total = len(self.items)
            self.job.listing_done = not page["next_cursor"]
            db.session.commit()
            yield from (m for m in meetings if self.items[_rid(m)].status == "pending")

    # --- one meeting ------------------------------------------------------------------------------

    def _cancel_requested(self) -> bool:
        return bool(db.session.scalar(select(SyncJob.cancel_requested).where(SyncJob.id == self.job.id)))

    def _sync_one(self, meeting: dict) -> None:
        item = self.items[_rid(meeting)]
        current = (_title(meeting) or f"Recording {item.external_id}")[:500]
        self.job.current_item = current
        if self.per_recording:
            tracked_work.heartbeat(self.job)
            db.session.commit()  # its two calls can take a while under the heavy limit: show it
        try:
            if self.per_recording:
                transcript = self.client.transcript(item.external_id)
                summary = self.client.summary(item.external_id)
                data = meeting_to_call_data(meeting, transcript=transcript, summary=summary)
            else:
                data = meeting_to_call_data(meeting)
            result = upsert_call(self.user, data, commit=False)
            item.status, item.call_id, item.error = "done", result.call.id, None
            item.title = data.title[:500]
            item.finished_at = utcnow()
            self.job.done += 1
        except FathomAuthError:
            raise  # no credential works: stop the job, every later meeting would fail the same way
        except (FathomError, NotAMeeting) as exc:
            db.session.rollback()
            self.job.current_item = current
            self._fail(item, str(exc))
        tracked_work.heartbeat(self.job)
        db.session.commit()
        if self.on_progress:
            self.on_progress(self.job)

    def _fail(self, item: SyncJobItem, reason: str) -> None:
        item.status, item.error, item.finished_at = "failed", reason[:2000], utcnow()
        self.job.failed += 1
        log_event("fathom_sync_item_failed", sync_job_id=self.job.id, recording_id=item.external_id)


def _rid(meeting: dict) -> str | None:
    try:
        return recording_id_of(meeting)
    except NotAMeeting:
        return None


def _title(meeting: dict) -> str | None:
    title = meeting.get("title") or meeting.get("meeting_title")
    return str(title)[:500] if title else None
