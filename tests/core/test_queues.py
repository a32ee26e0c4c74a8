from rq import Queue
from rq.job import Job

from callvault.jobs.maintenance import recover_stalled_work
from callvault.extensions import db
from callvault.models import SyncJob
from callvault.queues import (SCHEDULER_LEADER_KEY, get_redis, register_periodic_jobs, run_scheduler_once,
                              scheduler_heartbeat_age)
from callvault.tracked_work import recover_stalled


def test_jobs_run_with_an_app_context(app, drain, member):
    with app.app_context():
        sync_job = SyncJob(user_id=member, status="running", rq_job_id="gone-for-good")
        db.session.add(sync_job)
        db.session.commit()
        sync_job_id = sync_job.id
        job = recover_stalled_work.enqueue()
    drain()
    with app.app_context():
        assert Job.fetch(job.id, connection=get_redis()).return_value() == 1
        assert db.session.get(SyncJob, sync_job_id).status == "failed"


def test_stalled_sync_jobs_keep_live_ones(app, member):
    with app.app_context():
        queued = recover_stalled_work.enqueue()
        live = SyncJob(user_id=member, status="queued", rq_job_id=queued.id)
        dead = SyncJob(user_id=member, status="running", rq_job_id="missing")
        db.session.add_all([live, dead])
        db.session.commit()
        assert recover_stalled() == 1
        assert db.session.get(SyncJob, live.id).status == "queued"
        assert "no longer in the job queue" in db.session.get(SyncJob, dead.id).error


def test_periodic_jobs_register_idempotently(app):
    with app.app_context():
        connection = get_redis()
        register_periodic_jobs(connection, app.extensions["periodic_jobs"])
        register_periodic_jobs(connection, app.extensions["periodic_jobs"])
        from rq_scheduler import Scheduler
        ids = [job.id for job in Scheduler(connection=connection).get_jobs()]
        assert len(ids) == len(set(ids)) and "periodic-recover-stalled-work" in ids


def test_only_one_scheduler_acts(app):
    with app.app_context():
        connection = get_redis()
        register_periodic_jobs(connection, app.extensions["periodic_jobs"])
        assert run_scheduler_once(connection, "worker-a") is True
        assert run_scheduler_once(connection, "worker-b") is False
        assert run_scheduler_once(connection, "worker-a") is True
        assert Queue("sync", connection=connection).count == 1  # enqueued once, rescheduled for later
        assert scheduler_heartbeat_age(connection) < 5
        connection.delete(SCHEDULER_LEADER_KEY)  # the leader died: its lease lapses
        assert run_scheduler_once(connection, "worker-b") is True
