"""Fathom: the API client, credentials, manual sync and webhooks."""


def init_app(app) -> None:
    """Fathom's stored webhook deliveries become calls here."""
    from ..webhooks import intake
    from . import webhooks

    intake.register_processor(webhooks.SOURCE, webhooks.process)
