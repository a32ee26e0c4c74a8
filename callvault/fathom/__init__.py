"""Fathom: the API client, credentials, manual sync and webhooks."""
