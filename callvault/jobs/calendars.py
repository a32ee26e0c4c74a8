"""Calendar background jobs (queue `calendar`)."""
from ..calendars import push, sync
from . import job


@job
def run_requested_sync(calendar_id: int) -> str:
    return sync.run_requested_sync(calendar_id).status


@job
def request_all_syncs() -> int:
    """Every 30 minutes: a (debounced) sync for every connected calendar."""
    return sync.request_all()


@job
def manage_watch_channels() -> dict:
    """Hourly: create missing push channels, renew those expiring within a day, stop orphans."""
    return vars(push.manage_channels())


@job
def start_push(calendar_id: int) -> bool:
    """After connecting: a watch channel or subscription (not in the request: Graph validates
    the subscription by calling back into this app while we wait for its answer)."""
    return push.start_push(calendar_id)


@job
def handle_lifecycle_event(channel_row_id: int, event: str) -> str:
    return push.handle_lifecycle_event(channel_row_id, event)
