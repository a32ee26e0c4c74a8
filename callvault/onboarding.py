"""A new person's first steps (the empty library's checklist), each ticked from what is stored."""
from dataclasses import dataclass

from sqlalchemy import select

from .extensions import db
from .models import Calendar, FathomConnection, User


@dataclass
class Step:
    key: str  # names the page section that does it: the template links it
    title: str
    why: str
    done: bool


def checklist(user: User, oauth_webhook_configured: bool = False) -> list[Step]:
    """The steps that bring meetings into an empty vault. Over OAuth, the app's own webhook (when the
    operator configured it) delivers new recordings, so no personal webhook is needed."""
    connection = db.session.scalar(select(FathomConnection).where(FathomConnection.user_id == user.id))
    connected = bool(connection and (connection.has_oauth or connection.has_api_key))
    webhook = bool(connection and (connection.webhook_id or (connection.has_oauth and oauth_webhook_configured)))
    calendar = db.session.scalar(select(Calendar.id).where(Calendar.user_id == user.id,
                                                           Calendar.state == "connected").limit(1)) is not None
    return [
        Step("fathom", "Connect Fathom", "with an API key or OAuth, so your recordings can be synced", connected),
        Step("fathom-webhook", "Register the Fathom webhook", "so new recordings arrive by themselves", webhook),
        Step("calendars", "Connect a calendar", "so a recording bot can join the meetings Fathom does not record",
             calendar),
    ]
