"""RQ workers in tests: what Redis holds while a worker runs a job, and that worker dying."""
from rq import Queue, Worker
from rq.job import Job, JobStatus

from callvault.queues import get_redis


def worker_takes(rq_job_id: str, worker_class=Worker, **worker_options) -> tuple[Job, Worker]:
    """A worker takes the job off its queue and starts it: what is in Redis the moment before its
    work horse dies (RQ's real registries: the started-job registry holds the worker's lease)."""
    connection = get_redis()
    job = Job.fetch(rq_job_id, connection=connection)
    queue = Queue(job.origin, connection=connection)
    worker = worker_class([queue], connection=connection, name=f"doomed-{rq_job_id[:8]}", **worker_options)
    worker.register_birth()
    taken, _ = Queue.dequeue_any([queue], timeout=None, connection=connection)
    assert taken.id == rq_job_id
    worker.prepare_execution(taken)
    worker.prepare_job_execution(taken, remove_from_intermediate_queue=True)
    assert taken.get_status(refresh=True) == JobStatus.STARTED
    return taken, worker


def heartbeat_key_expires(worker: Worker) -> None:
    """The worker was killed and stopped renewing its heartbeat key; Redis let it expire."""
    get_redis().delete(worker.key)
