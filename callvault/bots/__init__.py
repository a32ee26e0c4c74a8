"""Recording bots: one per meeting from the calendars, sent to an Attendee-compatible bot service."""


def init_app(app) -> None:
    """Bots follow the calendars, and the bot service's webhooks are processed here."""
    from .. import signals
    from ..webhooks import intake
    from . import lifecycle, reconcile

    signals.calendar_events_changed.connect(reconcile.on_calendar_events_changed)
    signals.calendar_disconnected.connect(reconcile.on_calendar_disconnected)
    intake.register_processor(lifecycle.SOURCE, lifecycle.process_delivery)
