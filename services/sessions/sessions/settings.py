"""Settings of the sessions service (environment variables, see the brief's conventions)."""

from __future__ import annotations

from plenary_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "sessions"
    outbox_poll_seconds: float = 30.0
    """Every write hands its events to its own process's outbox relay (published by `_id` at once); the poll only
    picks up what a crash left behind."""
    public_base_url: str = "http://127.0.0.1:8000"
    """Where browsers reach the gateway: private iCalendar feed URLs are built on it."""
    api_prefix: str = "/api"
    stream_lead_minutes: int = 15
    """The stream link shows this long before a session starts, and as long after it ends."""
    overrun_grace_minutes: int = 60
    """A session that a moderator set live by hand is ended by the clock this long after its scheduled end."""
    clock_interval_seconds: float = 5.0
    heartbeat_timeout_seconds: float = 60.0
    """A viewer without a heartbeat for this long counts as gone."""
    question_max_length: int = 500
    question_rate_per_minute: float = 4.0
    question_burst: int = 3
    page_size_max: int = 100
