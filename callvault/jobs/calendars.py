"""Calendar background jobs (queue `calendar`)."""
from .. import signals
from ..calendars import push, sync
from .declaration import job


@job(queue="calendar")
def run_requested_sync(calendar_id: int) -> str:
    return sync.run_requested_sync(calendar_id).status


@job(queue="calendar")
def request_all_syncs() -> int:
    """Every 30 minutes: a (debounced) sync for every connected calendar."""
    return sync.request_all()


@job(queue="calendar")
def manage_watch_channels() -> dict:
    """Hourly: create missing push channels, renew those expiring within a day, stop orphans."""
    return vars(push.manage_channels())


@job(queue="calendar")
def start_push(calendar_id: int) -> bool:
    """After connecting: a watch channel or subscription (not in the request: Graph validates
    the subscription by calling back into this app while we wait for its answer)."""
    return push.start_push(calendar_id)


@job(queue="calendar")
def handle_lifecycle_event(channel_row_id: int, event: str) -> str:
    return push.handle_lifecycle_event(channel_row_id, event)


def _queue_sync(_sender, calendar_id: int, job_id: str):
    return run_requested_sync.enqueue(calendar_id, job_id=job_id)


def _queue_push(_sender, calendar_id: int):
    return start_push.enqueue(calendar_id)


def _queue_lifecycle_event(_sender, channel_id: int, event: str):
    return handle_lifecycle_event.enqueue(channel_id, event)


def connect() -> None:
    signals.calendar_sync_requested.connect(_queue_sync)
    signals.calendar_connected.connect(_queue_push)
    signals.push_lifecycle_event.connect(_queue_lifecycle_event)
