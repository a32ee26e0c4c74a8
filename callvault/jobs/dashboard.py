"""Health dashboard jobs (queue `default`): compute the kept all-time figures again once they are stale."""
from datetime import date

from flask import current_app

from .. import signals
from ..dashboard import figures
from ..queues import get_redis
from .declaration import job


@job(queue="default", timeout=120)
def refresh_dashboard_figures(day: str):
    figures.keep_summary(get_redis(), current_app.config["DASHBOARD_CACHE_SECONDS"], date.fromisoformat(day))


def _queue_refresh(_sender, day: str):
    return refresh_dashboard_figures.enqueue_or_log(day)


def connect() -> None:
    signals.dashboard_figures_stale.connect(_queue_refresh)
