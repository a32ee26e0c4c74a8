"""Getting calls out of the vault: the output hub database, signed outgoing webhooks, and zip bundles."""


class ExportError(Exception):
    """A target refused or could not be reached; the message is safe to show (no secrets)."""


def init_app(app) -> None:
    """A stored call becomes due at every configured export target, in its own transaction."""
    from .. import signals
    from . import outbox

    signals.call_stored.connect(outbox.record_export_intent)
