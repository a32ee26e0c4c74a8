"""Export jobs (queue `exports`): deliver one call to one target, retry what is due, build zips."""
from ..exports import bundles, outbox, runner
from . import job


@job
def export_call(export_id: int):
    return runner.run_export(export_id)


@job
def retry_due_exports():
    return outbox.queue_due_exports()


@job
def build_bundle(bundle_id: int):
    return bundles.build(bundle_id)


@job
def expire_bundles():
    return bundles.delete_expired()
