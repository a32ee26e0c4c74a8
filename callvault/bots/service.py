"""The configured bot-service client (settings from the app config; the key is never logged)."""
from flask import current_app

from .client import AttendeeClient, ClientSettings


def client_from_config(sleep=None) -> AttendeeClient:
    """Raises AttendeeNotConfigured, naming the variable, when ATTENDEE_API_KEY is missing."""
    config = current_app.config
    settings = ClientSettings(base_url=config["ATTENDEE_API_BASE_URL"], api_key=config["ATTENDEE_API_KEY"],
                              timeout_seconds=config["ATTENDEE_HTTP_TIMEOUT_SECONDS"],
                              max_attempts=config["ATTENDEE_MAX_ATTEMPTS"],
                              retry_base_seconds=config["ATTENDEE_RETRY_BASE_SECONDS"])
    return AttendeeClient(settings) if sleep is None else AttendeeClient(settings, sleep=sleep)
