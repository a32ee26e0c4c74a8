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
    PeriodicJob("periodic-sweep-webhook-deliveries", "callvault.jobs.webhooks.sweep_webhook_deliveries",
                60, queue="webhooks"),
    PeriodicJob("periodic-retry-exports", "callvault.jobs.exports.retry_due_exports", 60, queue="exports"),
    PeriodicJob("periodic-expire-export-bundles", "callvault.jobs.exports.expire_bundles", 3600, queue="exports"),
    PeriodicJob("periodic-retry-enrichments", "callvault.jobs.search.retry_due_enrichments", 300),
    PeriodicJob("periodic-sync-calendars", "callvault.jobs.calendars.request_all_syncs", 1800, queue="calendar"),
    PeriodicJob("periodic-manage-watch-channels", "callvault.jobs.calendars.manage_watch_channels", 3600,
                queue="calendar"),
    PeriodicJob("periodic-dispatch-bots", "callvault.jobs.bots.dispatch", 60, queue="bots"),
    PeriodicJob("periodic-ensure-bots", "callvault.jobs.bots.ensure_upcoming", 900, queue="bots"),
]
