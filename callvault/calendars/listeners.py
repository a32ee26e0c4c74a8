"""Hooks other features register on calendar happenings (events changed, a calendar disconnected).

`Listeners` is the one mechanism behind `sync.on_events_changed` and `connections.on_disconnected`:
registering the same function twice has no effect, and a listener that raises is logged (its
session work rolled back) and never fails the caller or the listeners after it.
"""
import logging
from typing import Callable

from ..extensions import db
from ..logs import log_event


class Listeners:
    def __init__(self, failure_event: str):
        self.failure_event = failure_event  # the log event of a listener that raised
        self._listeners: list[Callable] = []

    def add(self, listener: Callable) -> Callable:
        """Usable as a decorator."""
        if listener not in self._listeners:
            self._listeners.append(listener)
        return listener

    def remove(self, listener: Callable) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def notify(self, calendar_id: int, *args) -> None:
        """Call every listener with (calendar_id, *args)."""
        for listener in list(self._listeners):
            try:
                listener(calendar_id, *args)
            except Exception as exc:  # noqa: BLE001 - one listener's bug must not fail the caller
                db.session.rollback()
                log_event(self.failure_event, logging.ERROR, calendar_id=calendar_id,
                          listener=getattr(listener, "__qualname__", repr(listener)), error=type(exc).__name__,
                          message=str(exc)[:300])
