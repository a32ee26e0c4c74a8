"""The periodic jobs the scheduler runs, each under a fixed id."""
from dataclasses import dataclass


@dataclass(frozen=True)
class PeriodicJob:
    id: str
    func: str
    interval_seconds: int
    queue: str = "default"
    timeout_seconds: int = 600


PERIODIC_JOBS: list[PeriodicJob] = [
    PeriodicJob("periodic-recover-stalled-sync-jobs", "callvault.jobs.maintenance.recover_stalled_sync_jobs",
                300, queue="sync"),
]
