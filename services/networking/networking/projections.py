"""What the networking service learns from other services' events, and erasure.

- registration.attendees (group `networking.registration`): the people projection. A snapshot's `directory_opt_in`
  lists the person in the directory; cancelling a registration takes them out of it (and nobody can start anything
  new with them); erasure (AttendeeErased) removes their personal data here: the directory entry, their part in
  conversations (their messages stay, shown as by a removed participant), meetings and slots (called off), blocks,
  reports' links and their schedule.
- sessions.agenda and sessions.enrolments (group `networking.sessions`): which sessions each person has in their
  schedule (a seat or a waiting place, or as a speaker) and when, for the meeting clash check.

Every effect is idempotent: an event time guard (`at`) or a condition on the state it changes, so a redelivered
event changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from plenary_events import networking as events
from plenary_events import registration, sessions
from plenary_kit.envelope import DecodedEvent
from plenary_kit.logging import get_logger

from networking import domain
from networking.handlers import Networking
from networking.meetings import Meetings

log = get_logger("networking.projections")

ENROLMENT_STATES: dict[type[Any], str] = {
    sessions.EnrolmentSeated: "seated",
    sessions.EnrolmentPromoted: "seated",
    sessions.EnrolmentWaitlisted: "waiting",
    sessions.EnrolmentWithdrawn: "withdrawn",
}


def person_fields(data: registration.AttendeeSnapshot) -> dict[str, Any]:
    return {
        "name": data.name, "organisation": data.organisation, "job_title": data.job_title,
        "country": data.country, "region": data.region, "stakeholder_type": data.stakeholder_type,
        "languages": list(data.languages),
        "interests": {"action_lines": list(data.interests.action_lines), "sdgs": list(data.interests.sdgs)},
        "roles": list(data.roles), "directory": bool(data.directory_opt_in),
        "search": domain.search_text(data.name, data.organisation, data.job_title),
        "sort_name": domain.fold(data.name),
    }


class Projections:
    def __init__(self, networking: Networking, meetings: Meetings) -> None:
        self.net = networking
        self.repo = networking.repo
        self.meetings = meetings

    # -- registration.attendees -------------------------------------------------------------------------------
    async def on_registration_event(self, event: DecodedEvent) -> None:
        data = event.data
        if isinstance(data, registration.AttendeeRegistered):
            await self.repo.put_person(data.attendee_id, domain.as_utc(data.registered_at), person_fields(data),
                                       registered=True)
        elif isinstance(data, registration.AttendeeUpdated):
            await self.repo.put_person(data.attendee_id, domain.as_utc(data.updated_at), person_fields(data),
                                       registered=False)
        elif isinstance(data, registration.AttendeeCancelled):
            await self.repo.cancel_person(data.attendee_id, domain.as_utc(data.cancelled_at))
        elif isinstance(data, registration.AttendeeErased):
            await self.erase(data.attendee_id, domain.as_utc(data.erased_at))
            log.info("attendee_erased", event_id=event.envelope.id)

    async def erase(self, attendee_id: str, at: datetime) -> None:
        """Remove what this service holds about a person. Idempotent: run twice, the second run changes nothing."""
        await self.repo.erase_person(attendee_id, at)
        now = self.net.clock()
        for conversation_id in await self.repo.conversation_ids_of(attendee_id):
            doc = await self.repo.conversation(conversation_id)
            remaining = [m for m in (doc or {}).get("members", []) if m != attendee_id]
            left = events.ConversationMemberLeft(conversation_id=conversation_id, attendee_id=None, reason="erased",
                                                 member_ids=remaining, recipient_ids=remaining, left_at=now)
            await self.repo.leave(conversation_id, attendee_id,
                                  [self.net.event(events.CONVERSATIONS, left, conversation_id)], erased=True)
        await self.repo.forget_author(attendee_id)
        await self.repo.forget_blocks(attendee_id)
        await self.repo.forget_reads(attendee_id)
        await self.repo.forget_reports(attendee_id)
        await self.repo.forget_schedule(attendee_id)
        await self._erase_meetings(attendee_id, now)
        await self._erase_slots(attendee_id, now)
        await self.meetings.repo.forget_calendar(attendee_id)
        self.net.notify()

    async def _erase_meetings(self, attendee_id: str, now: datetime) -> None:
        mrepo = self.meetings.repo
        for doc in await mrepo.meetings_with(attendee_id):
            role = "requester_id" if doc.get("requester_id") == attendee_id else "invitee_id"
            other = doc.get("invitee_id") if role == "requester_id" else doc.get("requester_id")
            set_: dict[str, Any] = {}
            moving: list[Any] = []
            if doc["status"] in (domain.PENDING, domain.ACCEPTED):
                set_ = {"status": domain.CANCELLED, "cancelled_by": None, "cancelled_at": now}
                cancelled = events.MeetingCancelled(
                    meeting_id=doc["_id"], requester_id=None if role == "requester_id" else other,
                    invitee_id=None if role == "invitee_id" else other, cancelled_by=None, was=doc["status"],
                    reason="erased", starts_at=doc.get("starts_at"), cancelled_at=now,
                    recipient_ids=[other] if other else [])
                moving = [self.net.event(events.MEETINGS, cancelled, doc["_id"])]
            if await mrepo.forget_participant(doc["_id"], role, attendee_id, set_, moving) and moving:
                await self.meetings.calendars.release(other, doc["_id"])

    async def _erase_slots(self, attendee_id: str, now: datetime) -> None:
        mrepo = self.meetings.repo
        calendars = self.meetings.calendars
        for doc in await mrepo.slots_where({"speaker_id": attendee_id}):
            booker = doc.get("booked_by")
            if doc["status"] == domain.WITHDRAWN:
                await mrepo.change_slot(doc["_id"], {"speaker_id": attendee_id}, {"speaker_id": None}, [])
                continue
            withdrawn = events.AvailabilitySlotWithdrawn(slot_id=doc["_id"], speaker_id=None, booked_by=booker,
                                                         reason="erased", withdrawn_at=now,
                                                         recipient_ids=[booker] if booker else [])
            if await mrepo.change_slot(doc["_id"], {"speaker_id": attendee_id},
                                       {"status": domain.WITHDRAWN, "speaker_id": None},
                                       [self.net.event(events.MEETINGS, withdrawn, doc["_id"])]):
                await calendars.release(booker, doc["_id"])
        for doc in await mrepo.slots_where({"booked_by": attendee_id}):
            speaker = doc.get("speaker_id")
            released = events.AvailabilitySlotReleased(slot_id=doc["_id"], speaker_id=speaker or "",
                                                       attendee_id=None, released_by=None, reason="erased",
                                                       released_at=now, recipient_ids=[speaker] if speaker else [])
            open_again = doc["status"] == domain.BOOKED
            await mrepo.change_slot(doc["_id"], {"booked_by": attendee_id},
                                    {"status": domain.OPEN if open_again else doc["status"], "booked_by": None},
                                    [self.net.event(events.MEETINGS, released, doc["_id"])] if open_again else [],
                                    unset=["booked_at"])

    # -- sessions.agenda and sessions.enrolments ------------------------------------------------------------------
    async def on_sessions_event(self, event: DecodedEvent) -> None:
        data = event.data
        at = domain.as_utc(event.envelope.time)
        if isinstance(data, sessions.SessionScheduled | sessions.SessionUpdated):
            await self.repo.put_session(data.session_id, at, {
                "title": data.title, "starts_at": domain.as_utc(data.starts_at),
                "ends_at": domain.as_utc(data.ends_at), "status": data.status,
                "speaker_ids": list(data.speaker_ids)})
        elif isinstance(data, sessions.SessionCancelled):
            await self.repo.put_session(data.session_id, at, {"status": "cancelled"})
        elif isinstance(data, sessions.SpeakerPublished):
            await self.repo.put_speaker(data.speaker_id, at, data.attendee_id)
        elif isinstance(data, sessions.SpeakerRemoved):
            await self.repo.put_speaker(data.speaker_id, at, None)
        elif type(data) in ENROLMENT_STATES:
            enrolment: Any = data
            await self.repo.put_enrolment(enrolment.session_id, enrolment.attendee_id, ENROLMENT_STATES[type(data)],
                                          domain.as_utc(enrolment.at))
