"""The worker process: RQ workers for every queue, plus the periodic scheduler.

Run several of these; each also runs the scheduler loop, and a Redis lease makes only one of
them act. `rq worker` would ignore REDIS_URL (and our app context), which is why this exists.
"""
import threading
import uuid

from rq import Queue
from rq.worker import HerokuWorker

from callvault import create_app
from callvault.jobs import set_worker_app
from callvault.queues import QUEUE_NAMES, get_redis, register_periodic_jobs, run_scheduler_once

SCHEDULER_TICK_SECONDS = 5


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
    app = create_app()
    if app.config["INPROCESS_QUEUE"]:
        raise SystemExit("worker.py needs REDIS_URL; without it `flask run` processes jobs in-process.")
    set_worker_app(app)
    with app.app_context():
        connection = get_redis()
        register_periodic_jobs(connection)
    name = f"worker-{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    threading.Thread(target=scheduler_loop, args=(app, stop, name), daemon=True).start()
    queues = [Queue(n, connection=connection) for n in QUEUE_NAMES]
    try:
        HerokuWorker(queues, connection=connection, name=name).work(logging_level="INFO")
    finally:
        stop.set()


if __name__ == "__main__":
    main()
