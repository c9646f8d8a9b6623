"""The networking service's settings (environment variables; see ServiceSettings for the shared ones)."""

from __future__ import annotations

from plenary_kit.settings import ServiceSettings
from pydantic import Field


class Settings(ServiceSettings):
    service_name: str = "networking"
    # Messages hand their events to the outbox relay directly (no scan); other writes ask for a scan. The idle scan
    # only picks up what a crash (or another replica's write) left behind.
    outbox_poll_seconds: float = 30.0

    # Conversations: a group has at most this many members (its starter included).
    conversation_member_limit: int = Field(default=50, ge=2)
    conversation_title_max_chars: int = Field(default=120, gt=0)
    # Messages: at most this many characters (after trimming spaces at both ends); empty messages are refused.
    message_max_chars: int = Field(default=4000, gt=0)
    # Pages (directory, conversations, messages, meetings, reports): default and largest size.
    page_default: int = Field(default=20, gt=0)
    page_max: int = Field(default=100, gt=0)

    # Meetings: a request proposes 1..N time slots, each this long at least and at most.
    meeting_slots_max: int = Field(default=5, gt=0)
    meeting_min_minutes: int = Field(default=5, gt=0)
    meeting_max_minutes: int = Field(default=240, gt=0)
    meeting_subject_max_chars: int = Field(default=200, gt=0)
    meeting_note_max_chars: int = Field(default=2000, gt=0)
    # Meet the speakers: an availability slot is at most this long; a speaker publishes at most this many slots.
    availability_max_minutes: int = Field(default=120, gt=0)
    availability_slots_max: int = Field(default=200, gt=0)

    # Reports: the free-text details are at most this long.
    report_details_max_chars: int = Field(default=2000, gt=0)

    # A calendar entry whose meeting or slot never reached its accepted/booked state (a crash between the two
    # writes) is ignored after this many seconds.
    reservation_grace_seconds: int = Field(default=60, gt=0)
