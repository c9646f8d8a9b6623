"""Events of the registration service (topic `registration.attendees`, key = attendee id)."""

from __future__ import annotations

from datetime import datetime

from plenary_kit.envelope import EventData
from plenary_kit.kafka.topics import TopicSpec
from pydantic import Field

from plenary_events.registry import registry

ATTENDEES = "registration.attendees"
SIGNIN = "registration.signin"
FOREVER = -1

TOPICS = [
    TopicSpec(ATTENDEES, partitions=6, retention_ms=FOREVER),
    TopicSpec(SIGNIN, partitions=3, retention_ms=24 * 3600 * 1000),
]

SOURCE = "/plenary/registration"


class Interests(EventData):
    action_lines: list[str] = Field(default_factory=list)
    sdgs: list[int] = Field(default_factory=list)


class AttendeeSnapshot(EventData):
    """What other services may know about a person: the whole public profile at this point in time."""

    attendee_id: str
    name: str
    email: str
    country: str
    region: str
    gender: str
    stakeholder_type: str
    organisation: str = ""
    job_title: str = ""
    languages: list[str] = Field(default_factory=list)
    interests: Interests = Field(default_factory=Interests)
    roles: list[str] = Field(default_factory=lambda: ["attendee"])
    exhibitor_id: str | None = None
    directory_opt_in: bool = False
    exhibitor_contact_opt_in: bool = False
    timezone: str | None = None


@registry.register("org.plenary.registration.attendee.registered.v1", topic=ATTENDEES)
class AttendeeRegistered(AttendeeSnapshot):
    registered_at: datetime


@registry.register("org.plenary.registration.attendee.updated.v1", topic=ATTENDEES)
class AttendeeUpdated(AttendeeSnapshot):
    updated_at: datetime


@registry.register("org.plenary.registration.attendee.cancelled.v1", topic=ATTENDEES)
class AttendeeCancelled(EventData):
    attendee_id: str
    cancelled_at: datetime


@registry.register("org.plenary.registration.attendee.erased.v1", topic=ATTENDEES)
class AttendeeErased(EventData):
    """GDPR erasure: every service that holds this person's personal data removes it; counts stay."""

    attendee_id: str
    erased_at: datetime


@registry.register("org.plenary.registration.signin.code_requested.v1", topic=SIGNIN)
class SigninCodeRequested(EventData):
    """A one-time sign-in code to email. Short retention topic; the code is single-use and expires."""

    attendee_id: str
    email: str
    name: str
    code: str
    expires_at: datetime
