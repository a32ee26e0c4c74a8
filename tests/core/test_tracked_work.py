"""Tracked background work: one status vocabulary, and recovery of sync jobs and export bundles
whose worker died, hung or lost its job, so no page waits forever."""
from datetime import timedelta

import pytest
import sqlalchemy as sa
from rq import Queue, SimpleWorker, Worker
from rq.job import Job, JobStatus

from callvault import tracked_work
from callvault.exports import bundles
from callvault.extensions import db
from callvault.fathom import sync
from callvault.models import WORK_STATES, ExportBundle, SyncJob, User, WorkStatus, utcnow
from callvault.jobs.maintenance import recover_stalled_work
from callvault.queues import get_redis
from tests.support.fathom import MEMBER_EMAIL, store_api_key
from tests.support.web import csrf_from, login

HX = {"HX-Request": "true"}


def test_every_tracked_table_shares_one_status_vocabulary(app, member):
    assert WORK_STATES == ("queued", "running", "succeeded", "failed", "cancelled")
    assert tracked_work.TRACKED_MODELS == (SyncJob, ExportBundle)
    for model in tracked_work.TRACKED_MODELS:
        assert model.__table__.c.status.type.enums == list(WORK_STATES)
    with app.app_context():
        for table, extra in (("sync_jobs", ", source, params, failed, cancel_requested, listing_done"),
                             ("export_bundles", ", formats")):
            values = {"sync_jobs": ", 'fathom', '{}', 0, false, true", "export_bundles": ", '[]'"}[table]
            insert = (f"INSERT INTO {table} (user_id, status, total, done, created_at{extra}) "
                      f"VALUES (:user_id, :status, 0, 0, :now{values})")
            db.session.execute(sa.text(insert), {"user_id": member, "status": "succeeded", "now": utcnow()})
            db.session.commit()
            with pytest.raises(sa.exc.IntegrityError):  # the old name is refused by the database itself
                db.session.execute(sa.text(insert), {"user_id": member, "status": "done", "now": utcnow()})
            db.session.rollback()


def _start_bundle(client):
    page = client.get("/exports/").get_data(as_text=True)
    client.post("/exports/bundles", data={"csrf_token": csrf_from(page), "formats": ["txt"]})
    return db.session.scalars(db.select(ExportBundle).order_by(ExportBundle.id.desc())).first()


def _worker_takes(rq_job_id: str, worker_class=Worker) -> Job:
    """A worker takes the job off its queue and starts it: what is in Redis the moment before its
    work horse dies (a forking Worker, as worker.py runs, renews a 90-second lease while alive)."""
    connection = get_redis()
    job = Job.fetch(rq_job_id, connection=connection)
    queue = Queue(job.origin, connection=connection)
    worker = worker_class([queue], connection=connection, name=f"doomed-{rq_job_id[:8]}")
    worker.register_birth()
    taken, _ = Queue.dequeue_any([queue], timeout=None, connection=connection)
    assert taken.id == rq_job_id
    worker.prepare_execution(taken)
    worker.prepare_job_execution(taken, remove_from_intermediate_queue=True)
    assert taken.get_status(refresh=True) == JobStatus.STARTED
    return taken


def test_a_bundle_whose_worker_died_is_failed_and_its_page_stops_polling(app, client, member, make_call):
    make_call(member)
    login(client, "member@example.com")
    with app.app_context():
        bundle = _start_bundle(client)
        bundle_id, rq_job_id = bundle.id, bundle.rq_job_id
        rq_job = _worker_takes(rq_job_id)
        assert tracked_work.claim(bundle)  # the build began: the first thing bundles.build does
        assert tracked_work.recover_stalled() == 0  # the worker's lease is live: it may still be working

    fragment = client.get(f"/exports/bundles/{bundle_id}", headers=HX).get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in fragment

    with app.app_context():
        # The horse died two minutes ago: its worker stopped renewing the 90-second lease.
        assert tracked_work.recover_stalled(now=utcnow() + timedelta(minutes=2)) == 1
        bundle = db.session.get(ExportBundle, bundle_id)
        assert bundle.status == WorkStatus.FAILED and bundle.finished_at is not None
        assert bundle.error == "the background job stopped before it finished (its worker stopped); try again"
        assert rq_job.get_status(refresh=True) == JobStatus.FAILED  # RQ agrees: abandoned
        assert tracked_work.recover_stalled(now=utcnow() + timedelta(minutes=2)) == 0  # once only
        assert bundles.build(bundle_id) == WorkStatus.FAILED  # a late run of the job changes nothing

    response = client.get(f"/exports/bundles/{bundle_id}", headers=HX)
    fragment = response.get_data(as_text=True)
    assert "hx-trigger" not in fragment and "hx-get" not in fragment
    assert "its worker stopped" in fragment and 'data-status="failed"' in fragment
    assert "its worker stopped" in client.get("/exports/").get_data(as_text=True)


def test_a_hung_bundle_is_failed_and_its_job_stops_at_the_next_heartbeat(app, client, member, make_call):
    make_call(member)
    login(client, "member@example.com")
    with app.app_context():
        bundle = _start_bundle(client)
        bundle_id = bundle.id
        # The in-process worker (`make run`) holds its lease for the job's whole timeout (an hour),
        # so RQ will not call the job abandoned; but it has shown no progress for half an hour.
        _worker_takes(bundle.rq_job_id, worker_class=SimpleWorker)
        assert tracked_work.claim(bundle)
        tracked_work.heartbeat(bundle, done=0)
        db.session.commit()
        later = utcnow() + ExportBundle.heartbeat_timeout + timedelta(minutes=1)
        assert tracked_work.recover_stalled(now=later - timedelta(minutes=2)) == 0
        assert tracked_work.recover_stalled(now=later) == 1
        assert db.session.get(ExportBundle, bundle_id).error.endswith("(no progress for 30 minutes); try again")
        with pytest.raises(tracked_work.WorkLost):
            tracked_work.heartbeat(bundle, done=1)
        db.session.rollback()
        assert db.session.get(ExportBundle, bundle_id).status == WorkStatus.FAILED


def test_the_periodic_recovery_covers_bundles_and_sync_jobs(app, drain, member):
    with app.app_context():
        live = recover_stalled_work.enqueue()
        rows = [ExportBundle(user_id=member, formats=["txt"], status=WorkStatus.RUNNING, rq_job_id="gone"),
                SyncJob(user_id=member, status=WorkStatus.RUNNING, rq_job_id="gone-too"),
                ExportBundle(user_id=member, formats=["txt"], status=WorkStatus.QUEUED, rq_job_id=live.id),
                ExportBundle(user_id=member, formats=["txt"], status=WorkStatus.SUCCEEDED, rq_job_id="gone")]
        db.session.add_all(rows)
        db.session.commit()
        ids = [row.id for row in rows]
    drain()  # runs the periodic job, which finds the queued bundle's job still in Redis
    with app.app_context():
        assert Job.fetch(live.id, connection=get_redis()).return_value() == 2
        lost, lost_sync, waiting, done = (db.session.get(type(r), i) for r, i in zip(rows, ids))
        assert (lost.status, lost_sync.status) == (WorkStatus.FAILED, WorkStatus.FAILED)
        assert "no longer in the job queue" in lost.error and "no longer in the job queue" in lost_sync.error
        assert (waiting.status, done.status) == (WorkStatus.QUEUED, WorkStatus.SUCCEEDED)


def test_a_sync_job_whose_worker_died_is_failed_and_its_row_stops_polling(fathom_app, sandbox, member):
    store_api_key(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 2, transcript_segments=1)
    client = fathom_app.test_client()
    login(client, "member@example.com")
    with fathom_app.app_context():
        job = sync.start_sync(db.session.get(User, member))
        job_id = job.id
        _worker_takes(job.rq_job_id)
        assert tracked_work.claim(job)
    assert client.get(f"/fathom/sync/jobs/{job_id}", headers=HX).status_code == 200
    with fathom_app.app_context():
        assert tracked_work.recover_stalled(now=utcnow() + timedelta(minutes=2)) == 1
        job = db.session.get(SyncJob, job_id)
        assert job.status == WorkStatus.FAILED and "its worker stopped" in job.error
    row = client.get(f"/fathom/sync/jobs/{job_id}", headers=HX)
    assert row.status_code == 286  # htmx stops polling
    html = row.get_data(as_text=True)
    assert "hx-trigger" not in html and "its worker stopped" in html and "Retry failed" in html


def test_a_sync_run_outside_rq_is_failed_when_its_process_stops_heartbeating(fathom_app, sandbox, member):
    """`flask fathom sync` runs the job in its own process, with no RQ job to ask: the heartbeat
    tells. Recovery fails it while it runs; the run notices at its next meeting and stops."""
    store_api_key(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 3, transcript_segments=1)
    seen = []

    def recover_after_first_meeting(job):
        seen.append(job.done)
        if len(seen) == 1:
            assert tracked_work.recover_stalled() == 0  # heartbeating: left alone
            assert tracked_work.recover_stalled(now=utcnow() + SyncJob.heartbeat_timeout + timedelta(seconds=1)) == 1

    with fathom_app.app_context():
        job = sync.start_sync(db.session.get(User, member), enqueue_job=False)
        job_id = job.id
        assert job.rq_job_id is None
        sync.run_sync(job_id, on_progress=recover_after_first_meeting)
        db.session.expire_all()
        job = db.session.get(SyncJob, job_id)
        assert seen == [1]  # it stopped after the meeting during which it was given up
        assert job.status == WorkStatus.FAILED and job.error.endswith("(no progress for 30 minutes); try again")
