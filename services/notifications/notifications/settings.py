"""Settings of the notifications service (environment variables, case-insensitive: SMTP_HOST, SMTP_PORT, ...)."""

from __future__ import annotations

from plenary_kit.settings import ServiceSettings
from pydantic import SecretStr


class Settings(ServiceSettings):
    service_name: str = "notifications"
    forum_name: str = "Plenary"  # how emails name the event, e.g. "WSIS Forum 2020"

    # SMTP (aiosmtplib). Local development expects a mail catcher on 127.0.0.1:1025.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_use_tls: bool = False  # implicit TLS (port 465)
    smtp_starttls: bool = False  # upgrade with STARTTLS (port 587)
    smtp_timeout_seconds: float = 15.0
    smtp_from: str = "Plenary <no-reply@plenary.localhost>"
    smtp_reply_to: str = "Plenary support <support@plenary.localhost>"

    # Links in emails and the List-Unsubscribe header point at the gateway's public address.
    public_base_url: str = "http://127.0.0.1:8000"
    # Signs unsubscribe links. Unset: a random key is made once and kept in the service's database.
    unsubscribe_secret: SecretStr | None = None

    # The outbound email queue: retries with exponential backoff, then the dead-letter topic.
    email_max_attempts: int = 5
    email_backoff_seconds: float = 5.0
    email_backoff_max_seconds: float = 900.0
    email_lease_seconds: float = 120.0  # a message claimed by a worker that died is retried after this
    email_poll_seconds: float = 1.0
    email_batch_size: int = 200  # messages per queued batch (one delivery to many people is split in these)
    email_concurrency_priority: int = 2
    email_concurrency_standard: int = 4
    email_concurrency_bulk: int = 8

    # Session reminders: sent this long before a session in a person's schedule starts.
    reminder_lead_minutes: float = 15.0
    reminder_poll_seconds: float = 1.0
    reminder_lease_seconds: float = 60.0

    # "New messages while you were away": a person's unread messages are emailed together this long after the
    # first of them arrived (unless read meanwhile), so a conversation means one email, not one per message.
    message_digest_seconds: float = 300.0
    message_digest_poll_seconds: float = 1.0
    message_digest_lease_seconds: float = 60.0
    # Messages older than this when read (a replay of the topic) are not emailed about.
    message_digest_max_age_hours: float = 24.0

    # Registrations older than this when read (a replay of the topic) get no confirmation.
    registration_confirmation_max_age_hours: float = 48.0

    # Announcements are fanned out in batches of this many recipients.
    announcement_batch_size: int = 1000
