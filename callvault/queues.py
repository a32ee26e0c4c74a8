"""Redis, the RQ queues, the in-process worker and the periodic scheduler.

With `REDIS_URL` the queues live in Redis and `worker.py` processes run them. Without it the app
runs everything in-process: a fakeredis server and one worker thread, so a laptop needs nothing
but Python. Either way callers only use `enqueue()`.
"""
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from urllib.parse import urlparse

import fakeredis
import redis
from flask import current_app
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.timeouts import TimerDeathPenalty
from rq.utils import parse_composite_key
from rq.worker import SimpleWorker, Worker
from rq_scheduler import Scheduler

from .logs import log_event

QUEUE_NAMES = ("webhooks", "sync", "calendar", "bots", "exports", "default")  # highest priority first
SCHEDULER_HEARTBEAT_KEY = "callvault:scheduler:heartbeat"
SCHEDULER_LEADER_KEY = "callvault:scheduler:leader"


def connect(url: str) -> redis.Redis:
    options = {"socket_connect_timeout": 3, "socket_timeout": 10, "health_check_interval": 30}
    if urlparse(url).scheme == "rediss":
        options["ssl_cert_reqs"] = "none"  # hosted Redis uses self-signed certificates
    return redis.Redis.from_url(url, **options)


def init_app(app) -> None:
    if app.config["INPROCESS_QUEUE"]:
        app.extensions["redis"] = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    else:
        app.extensions["redis"] = connect(app.config["REDIS_URL"])
    if app.config["INPROCESS_QUEUE"] and app.config["INPROCESS_WORKER"]:
        starter = threading.Lock()

        @app.before_request
        def _start_inprocess_worker():
            with starter:
                if "inprocess_worker" not in app.extensions:
                    app.extensions["inprocess_worker"] = start_inprocess_worker(app)


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]


@contextmanager
def redis_lock(key: str, ttl_seconds: float, wait_seconds: float, poll_seconds: float = 0.05):
    """A mutex across processes: SET NX with an expiry, released only by its holder.

    Yields True once held, or False if another holder kept it past `wait_seconds`.
    """
    connection, token = get_redis(), uuid.uuid4().hex
    deadline = time.monotonic() + wait_seconds
    while not connection.set(key, token, nx=True, ex=ttl_seconds):
        if time.monotonic() > deadline:
            yield False
            return
        time.sleep(poll_seconds)
    try:
        yield True
    finally:
        with connection.pipeline() as pipe:
            try:
                pipe.watch(key)
                if pipe.get(key) == token.encode():
                    pipe.multi()
                    pipe.delete(key)
                    pipe.execute()
            except redis.WatchError:
                pass  # it expired and someone else holds it now


def get_queue(name: str = "default") -> Queue:
    return Queue(name, connection=get_redis())


def enqueue(queue_name: str, func, *args, job_id: str | None = None, **kwargs):
    """Put a job on a queue. Raises redis.RedisError when Redis is unreachable: callers decide."""
    return get_queue(queue_name).enqueue(func, *args, job_id=job_id, **kwargs)


def release_abandoned_jobs(connection=None, queue_names=QUEUE_NAMES, at: float | None = None) -> list[str]:
    """Hand back to RQ the started jobs whose worker died; the ids of those it took.

    A live worker renews its lease on the job it runs (an entry of the queue's StartedJobRegistry,
    every WORKER_HEARTBEAT_SECONDS in worker.py) and its own heartbeat key. A job is abandoned when
    its lease lapsed, or at once when its worker's heartbeat key is gone (the worker was killed and
    its key expired, or it was removed). RQ's own StartedJobRegistry.cleanup then retries the job
    or moves it to the failed registry with AbandonedJobError, running its failure callbacks.
    `at` (a Unix time) stands for now.
    """
    connection = connection or get_redis()
    released = []
    for name in queue_names:
        registry = StartedJobRegistry(name, connection=connection)
        for entry in connection.zrange(registry.key, 0, -1):
            job_id, _execution_id = parse_composite_key(entry.decode())
            try:
                job = Job.fetch(job_id, connection=connection)
            except NoSuchJobError:
                continue
            worker_name = job.worker_name
            if worker_name and not connection.exists(Worker.redis_worker_namespace_prefix + worker_name):
                connection.zadd(registry.key, {entry: 0}, xx=True)  # its lease ends now
        released += registry.get_expired_job_ids(at)
        registry.cleanup(timestamp=at)
    if released:
        log_event("abandoned_jobs_released", jobs=len(released))
    return released


def was_abandoned(job: Job) -> bool:
    """Whether RQ failed the job because its worker died (rather than the job raising)."""
    if job.get_status(refresh=False) != JobStatus.FAILED:
        return False
    result = job.latest_result()
    return result is not None and "AbandonedJobError" in (result.exc_string or "")


class InProcessWorker(SimpleWorker):
    """Runs jobs in the calling thread: no fork, no signals, a timer for job timeouts."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self):
        pass


def drain_queues(connection=None) -> bool:
    """Run every queued job to completion in this thread (tests and CLI use it)."""
    connection = connection or get_redis()
    queues = [Queue(n, connection=connection) for n in QUEUE_NAMES]
    return InProcessWorker(queues, connection=connection).work(burst=True, logging_level="WARNING")


def start_inprocess_worker(app) -> threading.Event:
    stop = threading.Event()

    def loop():
        with app.app_context():
            connection = get_redis()
            register_periodic_jobs(connection, app.extensions.get("periodic_jobs", ()))
            while not stop.is_set():
                try:
                    run_scheduler_once(connection, "inprocess")
                    drain_queues(connection)
                except Exception:  # one bad tick must not stop the only worker
                    app.logger.exception("in-process worker tick failed")
                stop.wait(1.0)

    threading.Thread(target=loop, name="callvault-inprocess-worker", daemon=True).start()
    log_event("inprocess_worker_started")
    return stop


# --- periodic jobs -------------------------------------------------------------------------------

def register_periodic_jobs(connection, periodic_jobs) -> None:
    """(Re)register every periodic job under its fixed id, so restarts never duplicate them; a periodic
    job no longer declared (renamed or removed) is cancelled."""
    scheduler = Scheduler(connection=connection)
    wanted = {periodic.id for periodic in periodic_jobs}
    for scheduled in scheduler.get_jobs():
        if scheduled.id.startswith("periodic-") and scheduled.id not in wanted:
            scheduler.cancel(scheduled.id)
    for periodic in periodic_jobs:
        declared = periodic.job
        scheduler.cancel(periodic.id)
        scheduler.schedule(scheduled_time=datetime.now(timezone.utc).replace(tzinfo=None), func=declared.target,
                           interval=periodic.interval_seconds, id=periodic.id, queue_name=declared.queue,
                           timeout=declared.timeout, result_ttl=600)


def run_scheduler_once(connection, name: str, lease_seconds: int = 30) -> bool:
    """Move due periodic jobs onto their queues if this process holds the leader lease.

    Several worker processes each run this loop; the lease makes exactly one of them act,
    and another takes over within `lease_seconds` if the leader dies.
    """
    if connection.set(SCHEDULER_LEADER_KEY, name, nx=True, ex=lease_seconds):
        leader = True
    else:
        current = connection.get(SCHEDULER_LEADER_KEY)
        leader = current is not None and current.decode() == name
        if leader:
            connection.expire(SCHEDULER_LEADER_KEY, lease_seconds)
    if leader:
        Scheduler(connection=connection).enqueue_jobs()
        connection.set(SCHEDULER_HEARTBEAT_KEY, time.time())
    return leader


def scheduler_heartbeat_age(connection) -> float | None:
    value = connection.get(SCHEDULER_HEARTBEAT_KEY)
    return None if value is None else max(0.0, time.time() - float(value))
