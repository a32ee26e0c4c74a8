"""What the operator has configured, feature by feature, for the admins' setup page. Only whether a
setting is set is read here: no value leaves this module (secrets never reach a page)."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Feature:
    key: str
    title: str
    turns_on: str  # what setting it would turn on, in the words of a person using the app
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()


FEATURES = (
    Feature("fathom-oauth", "Fathom over OAuth",
            "people connect Fathom with one click instead of pasting an API key",
            ("FATHOM_OAUTH_CLIENT_ID", "FATHOM_OAUTH_CLIENT_SECRET", "FATHOM_OAUTH_REDIRECT_URI")),
    Feature("fathom-oauth-webhook", "Fathom OAuth-app webhook",
            "new recordings of people connected over OAuth arrive by themselves, without a sync",
            ("FATHOM_OAUTH_WEBHOOK_SECRET",)),
    Feature("google", "Google Calendar",
            "people connect their Google calendars, so recording bots can join their meetings",
            ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"), ("GOOGLE_REDIRECT_URI",)),
    Feature("google-pilot", "Google Workspace pilot calendars",
            "calendars of the pilot users are read by domain-wide delegation, with no sign-in of theirs",
            ("GOOGLE_SERVICE_ACCOUNT_JSON", "PILOT_USERS")),
    Feature("microsoft", "Microsoft 365 calendars",
            "people connect their Outlook calendars, so recording bots can join their meetings",
            ("MICROSOFT_CLIENT_ID", "MICROSOFT_CLIENT_SECRET"), ("MICROSOFT_REDIRECT_URI", "MICROSOFT_TENANT_ID")),
    Feature("bots", "Recording bots (Attendee)",
            "bots join calendar meetings that Fathom does not record, and their transcripts are stored",
            ("ATTENDEE_API_KEY", "ATTENDEE_WEBHOOK_SECRET"), ("ATTENDEE_API_BASE_URL",)),
    Feature("export-hub", "Export to the output hub",
            "every finished meeting is copied to a PostgreSQL database (Supabase is one)",
            ("EXPORT_DATABASE_URL",)),
    Feature("export-webhook", "Outgoing webhooks",
            "every finished meeting is sent, signed, to a downstream automation",
            ("EXPORT_WEBHOOK_URL", "EXPORT_WEBHOOK_SECRET")),
    Feature("semantic-search", "Semantic search with a provider's embeddings",
            "semantic search (finding passages that mean the same in other words) uses the AI provider's "
            "embeddings instead of the built-in offline model; it is on either way",
            ("AI_API_BASE_URL", "AI_EMBEDDING_MODEL"), ("AI_API_KEY",)),
    Feature("ai-titles", "AI titles and summaries",
            "recording-bot meetings get a written summary and a title from an AI model",
            ("AI_API_BASE_URL", "AI_CHAT_MODEL"), ("AI_API_KEY",)),
    Feature("transcript-links", "Signed transcript links",
            "a call's participants get links that open its transcript without an account",
            ("TRANSCRIPT_TOKEN_SECRET",)),
    Feature("redis", "A shared job queue (Redis)",
            "background work runs on separate worker processes instead of inside the web process",
            ("REDIS_URL",)),
)


@dataclass
class FeatureStatus:
    feature: Feature
    missing: list[str]
    optional_set: list[str]

    @property
    def configured(self) -> bool:
        return not self.missing


def _is_set(config, name: str) -> bool:
    value = config.get(name)
    return bool(value) and value != [] and value != ()


def features(config) -> list[FeatureStatus]:
    """Every feature with the required settings still missing; configured ones first."""
    statuses = [FeatureStatus(f, [n for n in f.required if not _is_set(config, n)],
                              [n for n in f.optional if _is_set(config, n)]) for f in FEATURES]
    return sorted(statuses, key=lambda s: not s.configured)


def is_on(config, key: str) -> bool:
    """Whether every required setting of the feature `key` is set."""
    feature = next(f for f in FEATURES if f.key == key)
    return all(_is_set(config, name) for name in feature.required)
