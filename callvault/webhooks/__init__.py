"""Incoming webhooks, whatever their source: the shared intake, replay and the deliveries log."""
