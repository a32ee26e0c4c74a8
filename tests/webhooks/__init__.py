"""Incoming Fathom webhooks: intake, signatures, idempotency, the deliveries log and replay."""
