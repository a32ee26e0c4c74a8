"""The facts one feature tells the others, as blinker signals — and sending one once the transaction commits.

The module that owns a fact sends its signal; a feature that cares connects a receiver in its own
`init_app` (background work connects in `callvault/jobs/`). Nobody imports the feature it reacts to,
so features stay free of import cycles and each reaction has one home: grep the signal's name.

Four ways to send:
- `signal.send(None, **data)` runs the receivers now, inside the sender's transaction: a receiver
  that writes rows (an export intent, an enrichment marker) commits or rolls back with the sender.
- `send_after_commit(signal, **data)` runs them once the current `db.session` transaction commits,
  and never if it rolls back: a background job must not start for a row that does not exist yet.
  Receivers that queue jobs are these; if Redis is down then, the owner's periodic sweep catches up.
- `notify(signal, **data)` sends now a fact about work already committed (a sync stored events, a
  calendar was disconnected); a receiver that raises is logged and fails neither the sender nor the others.
- `request(signal, **data)` sends now and returns what the receiver that queued the work returned (the
  RQ job, whose id a row a person watches keeps; or how many jobs were queued); Redis errors reach it.

Every signal's data is keyword arguments of plain ids, never ORM objects (after commit they are
expired, and a job takes ids anyway).
"""
import logging

from blinker import Namespace
from sqlalchemy import event

from .extensions import db
from .logs import log_event

facts = Namespace()

# --- calls -----------------------------------------------------------------------------------------
call_stored = facts.signal("call-stored", doc="""A call's content was written (created or changed), inside
its transaction. call_id, content_hash, fresh (this transaction inserted the row and it is uncommitted:
nothing refers to it, so there is nothing to look up). Exports and search record their intents in the same
transaction.""")

exports_due = facts.signal("exports-due", doc="export_ids: CallExport rows due for delivery (after commit).")
enrichment_due = facts.signal("enrichment-due", doc="call_ids: calls whose search enrichment is due (after commit).")
bundle_requested = facts.signal("bundle-requested", doc="bundle_id: a person asked for an export zip.")

# --- webhooks --------------------------------------------------------------------------------------
delivery_accepted = facts.signal("delivery-accepted", doc="""delivery_id: a verified, claimed webhook delivery
waits for processing (sent after its claim is committed).""")
webhook_inbox_due = facts.signal("webhook-inbox-due", doc="""Judged webhook requests wait in the Redis inbox to be
recorded and processed (sent by the intake when no drain was asked for lately, and by a drain that left some).""")

# --- Fathom ----------------------------------------------------------------------------------------
fathom_sync_requested = facts.signal("fathom-sync-requested", doc="sync_job_id: a Fathom sync job was created.")

# --- calendars -------------------------------------------------------------------------------------
calendar_connected = facts.signal("calendar-connected", doc="calendar_id: a calendar was connected; push can start.")
calendar_disconnected = facts.signal("calendar-disconnected", doc="""calendar_id: a calendar was disconnected
(by its owner, or because its grant was revoked).""")
calendar_sync_requested = facts.signal("calendar-sync-requested", doc="""calendar_id, job_id: a (debounced) sync
of one calendar is due; job_id keeps one queued job per request.""")
calendar_events_changed = facts.signal("calendar-events-changed", doc="""calendar_id, created, updated, deleted
(CalendarEvent ids): what a sync changed, sent once its rows are committed (cancelled counts as deleted).""")
push_lifecycle_event = facts.signal("push-lifecycle-event", doc="""channel_id, event: the calendar provider told us
something about a push channel (e.g. Graph's subscriptionRemoved, reauthorizationRequired).""")

# --- the health dashboard -------------------------------------------------------------------------
dashboard_figures_stale = facts.signal("dashboard-figures-stale", doc="""day (YYYY-MM-DD): the dashboard's kept
all-time figures are older than DASHBOARD_CACHE_SECONDS and were shown all the same; compute them again.""")

# --- recording bots --------------------------------------------------------------------------------
bots_reconcile_requested = facts.signal("bots-reconcile-requested", doc="""event_ids: these meetings' bots must be
brought in line with their calendar events (created, moved, cancelled).""")
bots_changed = facts.signal("bots-changed", doc="Bots were planned or changed; the dispatcher should run soon.")
bot_transcript_due = facts.signal("bot-transcript-due", doc="""bot_id: a bot ended and its transcript is not stored
yet (sent after the commit that ended it, and again by the dispatcher's retries).""")


_PENDING = "callvault_signals_after_commit"


def send_after_commit(signal, **data) -> None:
    """Send `signal` with `data` once the current transaction commits (not at all if it rolls back).
    The same signal with the same data is sent once per commit however often it was asked for."""
    pending = db.session.info.setdefault(_PENDING, {})
    pending[(signal.name, _freeze(data))] = (signal, data)


def init_app(app) -> None:
    """Listen to the session's commits and rollbacks (once per process: the session is global)."""
    if not event.contains(db.session, "after_commit", _send_pending):
        event.listen(db.session, "after_commit", _send_pending)
        event.listen(db.session, "after_rollback", _drop_pending)


def notify(signal, **data) -> None:
    """Send a fact about work the sender has already committed. Each receiver runs on its own: one that
    raises is logged (its session work rolled back) and fails neither the sender nor the receivers after it."""
    _send_each(signal, data, roll_back=True)


def _send_pending(session) -> None:
    # SQLAlchemy also calls this when a savepoint is released: the transaction goes on, so wait for its
    # commit (a batch of webhook deliveries stores many calls in one transaction, each in a savepoint).
    if session.in_nested_transaction():
        return
    # Inside after_commit the session may emit no SQL, so a failing receiver is only logged here.
    for signal, data in session.info.pop(_PENDING, {}).values():
        _send_each(signal, data, roll_back=False)


def _send_each(signal, data: dict, roll_back: bool) -> None:
    for receiver in signal.receivers_for(None):
        try:
            receiver(None, **data)
        except Exception as exc:  # noqa: BLE001 - one receiver's bug must not undo what already happened
            if roll_back:
                db.session.rollback()
            log_event("signal_receiver_failed", logging.ERROR, signal=signal.name,
                      receiver=getattr(receiver, "__qualname__", repr(receiver)), error=type(exc).__name__,
                      message=str(exc)[:300])


def _drop_pending(session) -> None:
    # A savepoint rolled back (an insert that lost a race, taken over by the winner's row): what the
    # transaction asked for before it still stands. What the savepoint itself asked for is sent too, if
    # the transaction commits: receivers queue jobs by id, and a job finds nothing to do for a row that
    # is not there.
    if session.in_nested_transaction():
        return
    session.info.pop(_PENDING, None)


def _freeze(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(_freeze(v) for v in value)
    return value


def request(signal, **data):
    """Send now and return the first answer a receiver gave (the RQ job it queued, or how many it
    queued), or None if no receiver answered. Redis errors from the receivers reach the caller."""
    for _receiver, answer in signal.send(None, **data):
        if answer is not None:
            return answer
    return None
