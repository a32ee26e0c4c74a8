"""The worker process: RQ workers for every queue, plus the periodic scheduler.

Run several of these; each also runs the scheduler loop, and a Redis lease makes only one of
them act. `rq worker` would ignore REDIS_URL (and our app context), which is why this exists.
"""
import gc
import threading
import uuid

from rq import Queue
from rq.worker import HerokuWorker, WorkerStatus
from sqlalchemy.orm import configure_mappers

from callvault import create_app
from callvault.config import exit_on_config_error
from callvault.jobs.declaration import set_worker_app
from callvault.queues import QUEUE_NAMES, get_redis, register_periodic_jobs, run_scheduler_once

SCHEDULER_TICK_SECONDS = 5
# Short, high-volume jobs run in the worker process itself, where connections and SQLAlchemy's
# statement cache stay warm: a forked horse starts cold and pays ~50 ms of connecting and
# compiling per job (bench/webhooks.py: 1,000 deliveries became calls in 63 s forked, 17 s inline).
# Everything else (long syncs, exports, calls to outside services) keeps a horse of its own.
INLINE_QUEUES = frozenset({"webhooks"})


LEASE_HEARTBEATS = 3  # a job's lease lasts this many heartbeats: a dead worker's job is released after it


class CallVaultWorker(HerokuWorker):
    """HerokuWorker (clean SIGTERM handling, forked horses) that runs INLINE_QUEUES' jobs in-process.

    It renews the lease on the job it runs every `job_monitoring_interval` seconds
    (WORKER_HEARTBEAT_SECONDS), for LEASE_HEARTBEATS heartbeats: when it dies the lease lapses
    within about half a minute and `queues.release_abandoned_jobs` hands the job back (RQ's own
    default is a 90-second lease, and none at all renewed for an inline job).
    """

    def execute_job(self, job, queue):
        if queue.name not in INLINE_QUEUES:
            return super().execute_job(job, queue)
        execution = self.prepare_execution(job)
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew_lease, args=(job, execution, stop), daemon=True)
        renewer.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            stop.set()
            renewer.join()
        self.set_state(WorkerStatus.IDLE)

    def _renew_lease(self, job, execution, stop: threading.Event) -> None:
        """An inline job has no monitoring loop around it: renew its lease from a thread."""
        while not stop.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job, execution)
            except Exception:  # a Redis blip: the next heartbeat tries again
                self.log.exception("lease renewal failed")

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        return int(self.job_monitoring_interval * LEASE_HEARTBEATS)


def scheduler_loop(app, stop: threading.Event, name: str) -> None:
    with app.app_context():
        connection = get_redis()
        while not stop.is_set():
            try:
                run_scheduler_once(connection, name)
            except Exception:  # a Redis blip must not kill the scheduler thread
                app.logger.exception("scheduler tick failed")
            stop.wait(SCHEDULER_TICK_SECONDS)


def main() -> None:
    with exit_on_config_error():   # a bad setting: one line naming it, no traceback
        app = create_app()
    if app.config["INPROCESS_QUEUE"]:
        raise SystemExit("worker.py needs REDIS_URL; without it `flask run` processes jobs in-process.")
    # create_app imported every job module (and what it imports) here in the parent: HerokuWorker
    # forks a work horse per job, and whatever a horse imports dies with it (~150-300 ms a job).
    set_worker_app(app)
    configure_mappers()  # once here, not in every forked job (~100 ms each)
    gc.freeze()  # as app.py does; and a forked horse then leaves the parent's pages shared
    with app.app_context():
        connection = get_redis()
        register_periodic_jobs(connection, app.extensions["periodic_jobs"])
    name = f"worker-{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    threading.Thread(target=scheduler_loop, args=(app, stop, name), daemon=True).start()
    queues = [Queue(n, connection=connection) for n in QUEUE_NAMES]
    try:
        CallVaultWorker(queues, connection=connection, name=name,
                        job_monitoring_interval=app.config["WORKER_HEARTBEAT_SECONDS"]).work(logging_level="INFO")
    finally:
        stop.set()


if __name__ == "__main__":
    main()
