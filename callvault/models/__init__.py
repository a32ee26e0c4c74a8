"""All models, importable from one place (Alembic sees them through this module)."""
from .bots import (AUTO_RECORD_CHOICES, BOT_STATES, TRANSITION_SOURCES, Bot, BotDeparture, BotEventChoice,
                   BotPreference, BotTransition)
from .calendars import Calendar, CalendarCredential, CalendarEvent, WatchChannel
from .calls import SOURCES, ActionItem, Call, Participant, TranscriptSegment
from .exports import CallExport, ExportBundle, ExportBundleChunk, OutgoingWebhook
from .fathom import FathomConnection
from .jobs import SyncJob, SyncJobItem
from .mcp_oauth import OAuthAuthorizationCode, OAuthClient, OAuthGrant, OAuthToken
from .search import CallEnrichment, TranscriptChunk
from .tracked import ACTIVE_STATES, FINAL_STATES, GAVE_UP, WORK_STATES, TrackedWork, WorkStatus
from .types import UTCDateTime, utcnow
from .users import ROLES, ApiToken, HostEmail, User, UserSession
from .webhooks import DELIVERY_STATES, ProcessedWebhook, WebhookDelivery

__all__ = [
    "SOURCES", "ActionItem", "Call", "Participant", "TranscriptSegment", "FathomConnection", "SyncJob",
    "SyncJobItem", "UTCDateTime", "utcnow", "ROLES", "ApiToken", "HostEmail", "User", "DELIVERY_STATES",
    "ProcessedWebhook", "WebhookDelivery", "CallExport", "ExportBundle", "ExportBundleChunk", "OutgoingWebhook",
    "Calendar", "CalendarCredential", "CalendarEvent", "WatchChannel", "CallEnrichment", "TranscriptChunk",
    "AUTO_RECORD_CHOICES", "BOT_STATES", "Bot", "BotDeparture", "BotEventChoice", "BotPreference", "BotTransition",
    "TRANSITION_SOURCES",
    "ACTIVE_STATES", "FINAL_STATES", "GAVE_UP", "WORK_STATES", "TrackedWork", "WorkStatus", "UserSession",
    "OAuthAuthorizationCode", "OAuthClient", "OAuthGrant", "OAuthToken",
]
