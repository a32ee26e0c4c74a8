"""The periodic jobs, declared as data: which job, how often. The queue and timeout are the job's own."""
from . import bots, calendars, exports, maintenance, search, webhooks
from .declaration import PeriodicJob

PERIODIC_JOBS: list[PeriodicJob] = [
    PeriodicJob(maintenance.recover_stalled_work, 30),
    PeriodicJob(webhooks.sweep_webhook_deliveries, 60),
    PeriodicJob(webhooks.expire_webhook_deliveries, 3600),
    PeriodicJob(exports.retry_due_exports, 60),
    PeriodicJob(exports.expire_bundles, 3600),
    PeriodicJob(search.retry_due_enrichments, 300),
    PeriodicJob(search.reembed_stale_calls, 60),
    PeriodicJob(calendars.request_all_syncs, 1800),
    PeriodicJob(calendars.manage_watch_channels, 3600),
    PeriodicJob(bots.dispatch, 60),
    PeriodicJob(bots.ensure_upcoming, 900),
]
