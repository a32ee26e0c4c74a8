"""Tracked background work: one status vocabulary, and recovery of sync jobs and export bundles
whose worker died, hung or lost its job, so no page waits forever."""
from datetime import timedelta

import pytest
import sqlalchemy as sa
from rq import SimpleWorker, Worker
from rq.job import Job, JobStatus

from callvault import tracked_work
from callvault.exports import bundles
from callvault.extensions import db
from callvault.fathom import sync
from callvault.dashboard import figures
from callvault.models import GAVE_UP, WORK_STATES, Call, ExportBundle, SyncJob, User, WorkStatus, utcnow
from callvault.jobs.maintenance import recover_stalled_work
from callvault.queues import get_redis
from tests.support.fathom import MEMBER_EMAIL, store_api_key
from worker import CallVaultWorker
from tests.support.web import csrf_from, login
from tests.support.workers import heartbeat_key_expires, worker_takes

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
    return worker_takes(rq_job_id, worker_class)[0]


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


class WorkerKilled(BaseException):
    """What a job sees of SIGKILL: nothing after this point runs, no `except Exception` catches it."""


def _killed_after(meetings_done: int):
    def on_progress(job):
        if job.done == meetings_done:
            raise WorkerKilled
    return on_progress


def test_a_sync_job_whose_worker_died_resumes_where_it_stopped(fathom_app, sandbox, member, drain):
    store_api_key(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 5, transcript_segments=1)
    client = fathom_app.test_client()
    login(client, "member@example.com")
    with fathom_app.app_context():
        job = sync.start_sync(db.session.get(User, member))
        job_id, first_rq_job_id = job.id, job.rq_job_id
        # worker.py's worker: a lease of three 10-second heartbeats
        taken = worker_takes(first_rq_job_id, CallVaultWorker, job_monitoring_interval=10)[0]
        with pytest.raises(WorkerKilled):
            sync.run_sync(job_id, on_progress=_killed_after(2))
        db.session.rollback()
        started_at = db.session.get(SyncJob, job_id).started_at
        assert tracked_work.recover_stalled() == 0  # its lease is live: it may still be working
        assert tracked_work.recover_stalled(now=utcnow() + timedelta(seconds=31)) == 1  # noticed in ~30 s
        assert taken.get_status(refresh=True) == JobStatus.FAILED  # RQ agrees: AbandonedJobError
        job = db.session.get(SyncJob, job_id)
        assert (job.status, job.done, job.params["resumes"]) == (WorkStatus.QUEUED, 2, 1)
        assert job.rq_job_id != first_rq_job_id
    assert 'hx-trigger' in client.get(f"/fathom/sync/jobs/{job_id}", headers=HX).get_data(as_text=True)
    drain()
    with fathom_app.app_context():
        job = db.session.get(SyncJob, job_id)
        assert (job.status, job.done, job.failed, job.total) == (WorkStatus.SUCCEEDED, 5, 0, 5)
        assert job.started_at == started_at and job.error is None
        assert sorted(item.status for item in job.items) == ["done"] * 5
        assert db.session.query(Call).count() == 5  # no duplicates


def test_a_dead_workers_job_is_released_once_its_heartbeat_key_expired(fathom_app, sandbox, member):
    """On fakeredis: a job registered as started by a worker whose heartbeat key is gone is taken
    back at once, however long the lease that worker had taken (RQ's default 90 s here)."""
    store_api_key(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 1, transcript_segments=1)
    with fathom_app.app_context():
        job = sync.start_sync(db.session.get(User, member))
        taken, worker = worker_takes(job.rq_job_id)
        assert tracked_work.claim(job)
        assert tracked_work.recover_stalled() == 0
        heartbeat_key_expires(worker)
        assert tracked_work.recover_stalled() == 1
        assert taken.get_status(refresh=True) == JobStatus.FAILED
        assert db.session.get(SyncJob, job.id).status == WorkStatus.QUEUED


def test_a_sync_job_is_given_up_after_its_worker_died_every_time(fathom_app, sandbox, member):
    store_api_key(fathom_app, member, sandbox)
    sandbox.add_meetings(MEMBER_EMAIL, 1, transcript_segments=1)
    client = fathom_app.test_client()
    login(client, "member@example.com")
    with fathom_app.app_context():
        job_id = sync.start_sync(db.session.get(User, member)).id
        for _ in range(sync.MAX_RESUMES + 1):
            job = db.session.get(SyncJob, job_id)
            worker = worker_takes(job.rq_job_id)[1]
            assert tracked_work.claim(job)
            heartbeat_key_expires(worker)
            assert tracked_work.recover_stalled() == 1
        job = db.session.get(SyncJob, job_id)
        assert job.status == WorkStatus.FAILED and job.error.startswith(GAVE_UP)
        listed = figures.failures(7)
        assert listed["counts"]["gave_up"] == 1 and listed["counts"]["sync_job_failed"] == 0
        assert listed["items"][0]["title"] == f"Sync job #{job_id} for member@example.com"
    row = client.get(f"/fathom/sync/jobs/{job_id}", headers=HX)
    assert row.status_code == 286  # htmx stops polling
    assert "its worker stopped every time it ran" in row.get_data(as_text=True)


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
