"""All models, importable from one place (Alembic sees them through this module)."""
from .calls import SOURCES, ActionItem, Call, Participant, TranscriptSegment
from .fathom import FathomConnection
from .jobs import SyncJob, SyncJobItem
from .types import UTCDateTime, utcnow
from .users import ROLES, ApiToken, HostEmail, User
from .webhooks import DELIVERY_STATES, ProcessedWebhook, WebhookDelivery

__all__ = [
    "SOURCES", "ActionItem", "Call", "Participant", "TranscriptSegment", "FathomConnection", "SyncJob",
    "SyncJobItem", "UTCDateTime", "utcnow", "ROLES", "ApiToken", "HostEmail", "User", "DELIVERY_STATES",
    "ProcessedWebhook", "WebhookDelivery",
]
