"""Recording-bot jobs (queue `bots`)."""
from .. import signals
from ..bots import dispatcher, reconcile, transcripts
from .declaration import job


@job(queue="bots")
def reconcile_events(event_ids: list[int]) -> int:
    """After a calendar sync: the meetings of the changed events get (or lose) their bot."""
    plan = reconcile.reconcile_events(event_ids)
    return len(plan.created) + len(plan.moved) + len(plan.relinked) + len(plan.cancelled)


@job(queue="bots")
def dispatch() -> dict:
    """Every minute (and after a reconcile): make the bot service match our bots."""
    return dispatcher.tick()


@job(queue="bots")
def ensure_upcoming() -> int:
    """Every 15 minutes: the safety net for reconcile requests that were lost."""
    return len(reconcile.ensure(days=2).created)


@job(queue="bots")
def fetch_transcript(bot_id: int) -> int | None:
    call = transcripts.fetch(bot_id)
    return call.id if call else None


def _queue_reconcile(_sender, event_ids):
    """If Redis is down the periodic ensure catches up."""
    return reconcile_events.enqueue_or_log(sorted(set(event_ids)))


def _queue_dispatch(_sender):
    return dispatch.enqueue_or_log()


def _queue_transcript(_sender, bot_id: int):
    """One fetch per bot at a time (a fixed job id): asked again while the last one still waits in the
    queue, nothing more is queued. If Redis is down the dispatcher's transcript retry catches up."""
    return fetch_transcript.enqueue_unless_live(bot_id, job_id=f"bot-transcript-{bot_id}")


def connect() -> None:
    signals.bots_reconcile_requested.connect(_queue_reconcile)
    signals.bots_changed.connect(_queue_dispatch)
    signals.bot_transcript_due.connect(_queue_transcript)
