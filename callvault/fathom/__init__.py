"""Fathom: the API client, credentials, manual sync and webhooks."""


def init_app(app) -> None:
    """Fathom's stored webhook deliveries become calls here."""
    from .. import tracked_work
    from ..models import SyncJob
    from ..webhooks import intake
    from . import sync, webhooks

    intake.register_processor(webhooks.SOURCE, webhooks.process)
    tracked_work.register_resumer(SyncJob, sync.resume)
