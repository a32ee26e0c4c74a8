"""Recording-bot jobs (queue `bots`)."""
from ..bots import dispatcher, reconcile, transcripts
from . import job


@job
def reconcile_events(event_ids: list[int]) -> int:
    """After a calendar sync: the meetings of the changed events get (or lose) their bot."""
    plan = reconcile.reconcile_events(event_ids)
    return len(plan.created) + len(plan.moved) + len(plan.relinked) + len(plan.cancelled)


@job
def dispatch() -> dict:
    """Every minute (and after a reconcile): make the bot service match our bots."""
    return dispatcher.tick()


@job
def ensure_upcoming() -> int:
    """Every 15 minutes: the safety net for reconcile requests that were lost."""
    return len(reconcile.ensure(days=2).created)


@job
def fetch_transcript(bot_id: int) -> int | None:
    call = transcripts.fetch(bot_id)
    return call.id if call else None
