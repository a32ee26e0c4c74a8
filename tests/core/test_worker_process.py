"""`python worker.py` as production runs it: real Redis, forked work horses (inline for webhooks), clean SIGTERM."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rq.job import Job

from callvault.jobs.maintenance import recover_stalled_work
from callvault.jobs.webhooks import sweep_webhook_deliveries
from callvault.extensions import db
from callvault.models import SyncJob
from callvault.queues import SCHEDULER_HEARTBEAT_KEY, get_redis
from tests.support.backends import TEST_REDIS_URL

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
