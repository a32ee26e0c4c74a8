"""Getting calls out of the vault: the output hub database, signed outgoing webhooks, and zip bundles."""


class ExportError(Exception):
    """A target refused or could not be reached; the message is safe to show (no secrets)."""
