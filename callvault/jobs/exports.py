"""Export jobs (queue `exports`): deliver one call to one target, retry what is due, build and expire zips."""
from .. import signals
from ..exports import bundles, outbox, runner
from .declaration import job


@job(queue="exports")
def export_call(export_id: int):
    return runner.run_export(export_id)


@job(queue="exports")
def retry_due_exports():
    """Every minute: exports whose retry time has come (or that Redis could not take when they were due)."""
    return export_call.enqueue_each(outbox.lease_due_exports())


@job(queue="exports", timeout=3600)
def build_bundle(bundle_id: int):
    return bundles.build(bundle_id)


@job(queue="exports")
def expire_bundles():
    return bundles.delete_expired()


def _queue_exports(_sender, export_ids):
    return export_call.enqueue_each(export_ids)


def _queue_bundle(_sender, bundle_id: int):
    return build_bundle.enqueue(bundle_id)


def connect() -> None:
    signals.exports_due.connect(_queue_exports)
    signals.bundle_requested.connect(_queue_bundle)
