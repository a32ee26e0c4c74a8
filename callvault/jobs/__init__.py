"""RQ jobs: thin wrappers that push an app context and call a service — each declared once, here.

`@job(queue=…, timeout=…, retry=…)` declares a background job: the function, its queue, its timeout
and its retry policy live in one place, and every enqueue goes through the declaration
(`process_delivery.enqueue(42)`), so no caller names a queue or a dotted path.

Services never import this package (it imports them): they send the facts of `callvault.signals`,
and each module here connects the facts it turns into background work in its `connect()`.
`init_app` connects them all and hands the periodic schedule to the scheduler (`PERIODIC_JOBS`).

Each job runs in a fresh app context (so a fresh database session) and logs one line
(`declaration.py`). In a forked work horse the inherited connection pool is disposed first: sockets
shared with the parent process must not be reused.
"""


def init_app(app) -> None:
    """Connect every feature's facts to the jobs they start, and hand the schedule to the scheduler."""
    from . import bots, calendars, dashboard, exports, fathom, search, webhooks
    from .periodic import PERIODIC_JOBS

    for module in (bots, calendars, dashboard, exports, fathom, search, webhooks):
        module.connect()
    app.extensions["periodic_jobs"] = PERIODIC_JOBS
