"""Fathom manual sync against the sandbox: listing, status, jobs, call budgets, faults."""
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from callvault.extensions import db
from callvault.fathom import listing, sync
from callvault.models import Call, SyncJob, TranscriptSegment, User
from tests.support.fathom import MEMBER_EMAIL, connect_oauth, store_api_key


def _user(user_id):
    return db.session.get(User, user_id)


def _run(app, job_id):
    with app.app_context():
        return sync.run_sync(job_id)


def _snapshot(app, job_id):
    """The job as plain values, readable outside the app context."""
    with app.app_context():
        job = db.session.get(SyncJob, job_id)
        items = [SimpleNamespace(external_id=i.external_id, status=i.status, error=i.error) for i in job.items]
        return SimpleNamespace(id=job.id, status=job.status, done=job.done, failed=job.failed, total=job.total,
                               listing_done=job.listing_done, error=job.error, items=items)


def _sync_range(app, user_id, **kwargs):
    with app.app_context():
        job_id = sync.start_sync(_user(user_id), **kwargs).id
    _run(app, job_id)
    return _snapshot(app, job_id)


def _fetch_all(app, user_id, **filters):
    listed, cursor = [], None
    with app.app_context():
        while True:
            page, cursor = listing.fetch_meetings(_user(user_id), cursor=cursor, **filters)
            listed += page
            if not cursor:
                return listed


def test_fetch_pages_to_the_end_and_reports_sync_status(fathom_app, sandbox, member, make_call):
    store_api_key(fathom_app, member, sandbox)
    meetings = sandbox.add_meetings(MEMBER_EMAIL, 23, transcript_segments=3)
    listed = _fetch_all(fathom_app, member)
    assert [m.recording_id for m in listed] == [str(m["recording_id"]) for m in reversed(meetings)]
    assert sandbox.count(path_prefix="/external/v1/meetings") == 3
    assert {m.status for m in listed} == {listing.NOT_SYNCED}
    first = listed[0]
    assert first.title == meetings[-1]["title"] and first.invitees == len(meetings[-1]["calendar_invitees"])
    assert first.duration_seconds > 0 and first.recorded_by

    job = _sync_range(fathom_app, member, recording_ids=[meetings[0]["recording_id"], meetings[1]["recording_id"]])
    assert (job.status, job.done, job.failed) == ("succeeded", 2, 0)
    sandbox.update_meeting(meetings[1]["recording_id"], title="Renamed in Fathom")
    statuses = {m.recording_id: m.status for m in _fetch_all(fathom_app, member)}
    assert statuses[str(meetings[0]["recording_id"])] == listing.SYNCED
    assert statuses[str(meetings[1]["recording_id"])] == listing.CHANGED
    assert statuses[str(meetings[2]["recording_id"])] == listing.NOT_SYNCED


def test_date_filters_are_whole_days(fathom_app, sandbox, member):
    store_api_key(fathom_app, member, sandbox)
    day = datetime(2025, 5, 6, tzinfo=timezone.utc)
    for created in (day - timedelta(seconds=1), day, day + timedelta(hours=23, minutes=59),
                    day + timedelta(days=1)):
        sandbox.add_meeting(MEMBER_EMAIL, transcript_segments=1, created_at=created)
    listed = _fetch_all(fathom_app, member, since=date(2025, 5, 6), until=date(2025, 5, 6))
    assert len(listed) == 2
    assert len(_fetch_all(fathom_app, member, since=date(2025, 5, 6))) == 3
    assert len(_fetch_all(fathom_app, member, until=date(2025, 5, 6))) == 3
    with fathom_app.app_context(), pytest.raises(listing.SyncError, match="start date is after"):
        listing.fetch_meetings(_user(member), since=date(2025, 5, 7), until=date(2025, 5, 6))


def test_api_key_sync_reads_pages_not_meetings_and_resync_is_idempotent(fathom_app, sandbox, member):
    store_api_key(fathom_app, member, sandbox)
    meetings = sandbox.add_meetings(MEMBER_EMAIL, 15, transcript_segments=4)
    job = _sync_range(fathom_app, member)
    assert (job.status, job.done, job.failed, job.total, job.listing_done) == ("succeeded", 15, 0, 15, True)
    assert sandbox.count() == 2  # two pages with the include flags, nothing per meeting
    assert sandbox.count(path_prefix="/external/v1/recordings") == 0
    with fathom_app.app_context():
        call = Call.query.filter_by(external_id=str(meetings[0]["recording_id"])).one()
        assert call.owner_id == member and call.title == meetings[0]["title"]
        assert call.segments.count() == 4 and call.summary_markdown
        assert len(call.action_items) == len(meetings[0]["action_items"])
        assert len(call.participants) == len(meetings[0]["calendar_invitees"])

    sandbox.update_meeting(meetings[0]["recording_id"], title="Updated title")
    again = _sync_range(fathom_app, member)
    assert (again.done, again.failed) == (15, 0)
    with fathom_app.app_context():
        assert Call.query.count() == 15
        assert Call.query.filter_by(external_id=str(meetings[0]["recording_id"])).one().title == "Updated title"
        assert TranscriptSegment.query.count() == 15 * 4


def test_oauth_sync_fetches_transcript_and_summary_per_meeting(fathom_app, sandbox, member):
    connect_oauth(fathom_app, member, sandbox)
    meetings = sandbox.add_meetings(MEMBER_EMAIL, 12, transcript_segments=3)
    listed = _fetch_all(fathom_app, member)  # what the user saw on the fetch page
    before = sandbox.count()
    job = _sync_range(fathom_app, member, recording_ids=[m.recording_id for m in listed])
    assert (job.status, job.done, job.failed) == ("succeeded", 12, 0)
    # metadata came from the listing the user just saw: exactly two calls per meeting
    assert sandbox.count() - before == 24
    assert sandbox.count(path_prefix="/external/v1/meetings") == before - 1 + 0  # no listing by the job
    with fathom_app.app_context():
        call = Call.query.filter_by(external_id=str(meetings[3]["recording_id"])).one()
        assert call.segments.count() == 3
        assert call.summary_markdown == meetings[3]["default_summary"]["markdown_formatted"]


def test_a_missing_meeting_fails_alone_and_retry_takes_only_the_failed(fathom_app, sandbox, member):
    connect_oauth(fathom_app, member, sandbox)
    meetings = sandbox.add_meetings(MEMBER_EMAIL, 5, transcript_segments=2)
    _fetch_all(fathom_app, member)
    gone = meetings[2]["recording_id"]
    sandbox.remove_meeting(gone)
    job = _sync_range(fathom_app, member, recording_ids=[m["recording_id"] for m in meetings])
    assert (job.status, job.done, job.failed) == ("succeeded", 4, 1)
    failed = [i for i in job.items if i.status == "failed"]
    assert [i.external_id for i in failed] == [str(gone)] and "404" in failed[0].error

    sandbox.add_meeting(MEMBER_EMAIL, transcript_segments=2, recording_id=gone, title="Back again")
    with fathom_app.app_context():
        retry_id = sync.retry_failed(_user(member), db.session.get(SyncJob, job.id)).id
    _run(fathom_app, retry_id)
    retry = _snapshot(fathom_app, retry_id)
    assert [i.external_id for i in retry.items] == [str(gone)]
    assert (retry.status, retry.done, retry.failed) == ("succeeded", 1, 0)
    with fathom_app.app_context():
        assert db.session.get(SyncJob, retry_id).params["retry_of"] == job.id
        assert Call.query.count() == 5


def test_empty_transcript_and_unicode_html_text_are_stored_as_text(fathom_app, sandbox, member):
    store_api_key(fathom_app, member, sandbox)
    evil = "<script>alert('x')</script> Grüße, 東京 & <b>bold</b> 🎉"
    quiet = sandbox.add_meeting(MEMBER_EMAIL, transcript_segments=0, title="Silent <i>meeting</i>")
    loud = sandbox.add_meeting(MEMBER_EMAIL, transcript_segments=1, transcript=[
        {"speaker": {"display_name": "Zoë <Admin>", "matched_calendar_invitee_email": None},
         "text": evil, "timestamp": "00:00:05"}])
    job = _sync_range(fathom_app, member)
    assert (job.done, job.failed) == (2, 0)
    with fathom_app.app_context():
        assert Call.query.filter_by(external_id=str(quiet["recording_id"])).one().segments.count() == 0
        segment = Call.query.filter_by(external_id=str(loud["recording_id"])).one().segments.one()
        assert (segment.text, segment.speaker, segment.start_ms) == (evil, "Zoë <Admin>", 5000)


def test_cancel_stops_between_meetings(fathom_app, sandbox, member):
    connect_oauth(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 6, transcript_segments=1)
    listed = _fetch_all(fathom_app, member)
    with fathom_app.app_context():
        job_id = sync.start_sync(_user(member), [m.recording_id for m in listed]).id

    def cancel_after_two(job):
        if job.done == 2:
            with fathom_app.app_context():
                sync.cancel(db.session.get(SyncJob, job_id))

    with fathom_app.app_context():
        sync.run_sync(job_id, on_progress=cancel_after_two)
        job = db.session.get(SyncJob, job_id)
        assert (job.status, job.done, job.failed) == ("cancelled", 2, 0)
        assert Call.query.count() == 2
        assert sum(1 for i in job.items if i.status == "pending") == 4
        retry = sync.retry_failed(_user(member), job)
        assert len(retry.items) == 4


def test_cancel_before_start_never_runs(fathom_app, sandbox, member):
    store_api_key(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 2, transcript_segments=1)
    with fathom_app.app_context():
        job = sync.start_sync(_user(member))
        sync.cancel(job)
        job_id = job.id
    _run(fathom_app, job_id)
    assert sandbox.count() == 0
