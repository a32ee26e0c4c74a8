"""`python worker.py` as production runs it: real Redis, forked work horses (inline for webhooks), clean SIGTERM."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rq.job import Job

from callvault import tracked_work
from callvault.fathom import sync
from callvault.jobs.maintenance import recover_stalled_work
from callvault.jobs.webhooks import sweep_webhook_deliveries
from callvault.extensions import db
from callvault.models import Call, SyncJob, User, WorkStatus
from callvault.queues import SCHEDULER_HEARTBEAT_KEY, get_redis
from tests.support.backends import TEST_REDIS_URL
from tests.support.fathom import CLIENT_ID, CLIENT_SECRET, MEMBER_EMAIL, REDIRECT_URI, connect_oauth

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not TEST_REDIS_URL, reason="worker.py needs a real Redis (set TEST_REDIS_URL)")
def test_worker_runs_jobs_in_forked_horses_and_stops_on_sigterm(app, database_url, member):
    with app.app_context():
        stale = SyncJob(user_id=member, status="running", rq_job_id="lost-job")
        db.session.add(stale)
        db.session.commit()
        stale_id = stale.id
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": TEST_REDIS_URL}
    worker = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with app.app_context():
            jobs = [recover_stalled_work.enqueue() for _ in range(3)]
            # the webhooks queue runs in the worker process itself; both kinds must work
            jobs += [sweep_webhook_deliveries.enqueue() for _ in range(2)]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                statuses = [Job.fetch(j.id, connection=get_redis()).get_status() for j in jobs]
                if all(s == "finished" for s in statuses) and get_redis().get(SCHEDULER_HEARTBEAT_KEY):
                    break
                time.sleep(0.2)
            assert statuses == ["finished"] * 5
            assert get_redis().get(SCHEDULER_HEARTBEAT_KEY) is not None  # its scheduler loop acted
            db.session.expire_all()
            assert db.session.get(SyncJob, stale_id).status == "failed"
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output


def _descendants(pid: int) -> list[int]:
    """The processes started by `pid` (its work horses), from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            children += [child, *_descendants(child)]
    return children


@pytest.mark.skipif(not TEST_REDIS_URL, reason="killing worker.py needs a real Redis (set TEST_REDIS_URL)")
def test_a_sync_whose_worker_is_killed_resumes_in_another_worker(fathom_app, sandbox, database_url, member):
    """SIGKILL a real worker (and its work horse) in the middle of a Fathom sync: within a few leases
    recovery hands the job back, and another worker finishes it from where it stopped, no duplicates."""
    app = fathom_app
    connect_oauth(app, member, sandbox)  # OAuth: two calls per meeting, so a meeting takes a while
    sandbox.add_meetings(MEMBER_EMAIL, 4, transcript_segments=1)
    sandbox.slow_next(n=8, seconds=0.7, path_prefix="/recordings/")
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": TEST_REDIS_URL, "WORKER_HEARTBEAT_SECONDS": "1",
           "FATHOM_API_BASE_URL": sandbox.base_url, "FATHOM_OAUTH_TOKEN_URL": sandbox.token_url,
           "FATHOM_OAUTH_CLIENT_ID": CLIENT_ID, "FATHOM_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
           "FATHOM_OAUTH_REDIRECT_URI": REDIRECT_URI, "FATHOM_RETRY_BASE_SECONDS": "0.01"}

    def start_worker():
        return subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def wait_for(condition, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with app.app_context():
                db.session.expire_all()
                job = db.session.get(SyncJob, job_id)
                if condition(job):
                    return job
            time.sleep(0.1)
        raise AssertionError(f"sync job stayed {job.status} with {job.done} done")

    with app.app_context():
        job_id = sync.start_sync(db.session.get(User, member)).id
    first = start_worker()
    try:
        job = wait_for(lambda job: job.done >= 2)
        for pid in [first.pid, *_descendants(first.pid)]:
            os.kill(pid, signal.SIGKILL)
    finally:
        first.kill()
        first.communicate(timeout=30)
    assert job.status == WorkStatus.RUNNING and job.done < 4
    killed_at = time.monotonic()

    with app.app_context():
        deadline = killed_at + 10
        while tracked_work.recover_stalled() == 0:  # what the periodic job does every 30 seconds
            assert time.monotonic() < deadline, "the dead worker's job was never released"
            time.sleep(0.2)
        noticed_after = time.monotonic() - killed_at
        job = db.session.get(SyncJob, job_id)
        assert job.status == WorkStatus.QUEUED and job.params["resumes"] == 1
    assert noticed_after < 5  # three 1-second heartbeats and a little

    second = start_worker()
    try:
        job = wait_for(lambda job: job.status not in ("queued", "running"))
    finally:
        second.send_signal(signal.SIGTERM)
        output, _ = second.communicate(timeout=30)
    assert (job.status, job.done, job.failed) == (WorkStatus.SUCCEEDED, 4, 0), output
    with app.app_context():
        assert sorted(i.status for i in db.session.get(SyncJob, job_id).items) == ["done"] * 4
        assert db.session.query(Call).count() == 4
        transcripts = [e for e in sandbox.requests_log if e["path"].endswith("/transcript")]
        assert len(transcripts) <= 5  # each meeting fetched once, the one cut off at most twice
