"""Exports: the output hub, signed outgoing webhooks, and bulk export bundles."""
