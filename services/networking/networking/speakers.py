"""Meet the speakers: speakers (role `speaker`) publish availability slots; attendees book them, one booking per
slot. Booking is a compare-and-set on the slot (`status: open` -> `booked`), so two people racing for one slot get
one booking and one 409. A slot is held in the speaker's calendar from its publication, and a booking in the
booker's, so neither can be double-booked by a meeting at the same time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from plenary_events import networking as events
from plenary_kit.auth import Principal
from plenary_kit.logging import get_logger
from plenary_kit.problems import ProblemError

from networking import domain
from networking.calendar import BOOKING, SLOT
from networking.meetings import Meetings
from networking.repository import Document, Taken

log = get_logger("networking.speakers")


class Availability:
    def __init__(self, meetings: Meetings) -> None:
        self.meetings = meetings
        self.net = meetings.net
        self.repo = meetings.repo
        self.calendars = meetings.calendars
        self.settings = meetings.settings

    def _event(self, data: Any, subject: str) -> Any:
        return self.net.event(events.MEETINGS, data, subject)

    async def _view(self, doc: Document, viewer: str) -> dict[str, Any]:
        return domain.slot_view(doc, await self.net.people([doc.get("speaker_id"), doc.get("booked_by")]), viewer)

    async def _slot(self, slot_id: str) -> Document:
        doc = await self.repo.slot(slot_id)
        if doc is None or doc["status"] == domain.WITHDRAWN:
            raise ProblemError(404, f"There is no availability slot '{slot_id}'.")
        return doc

    async def publish(self, caller: Principal, cmd: domain.PublishAvailability,
                      key: str | None = None) -> tuple[dict[str, Any], bool]:
        domain.check_key(key)
        if not domain.is_speaker(caller.roles):
            raise ProblemError(403, "Only speakers publish availability slots; organisers give the speaker role.")
        slot_id = domain.keyed_id("slot", caller.sub, key) if key else domain.new_id("slot")
        if key and (existing := await self.repo.slot(slot_id)) is not None:
            return await self._view(existing, caller.sub), False
        me = await self.net.acting(caller)
        topic = domain.check_text(cmd.topic, "topic", self.settings.meeting_subject_max_chars, required=False)
        now = self.net.clock()
        start, end = domain.check_slot(cmd.starts_at, cmd.ends_at, now, label="The slot",
                                       min_minutes=self.settings.meeting_min_minutes,
                                       max_minutes=self.settings.availability_max_minutes)
        if await self.repo.count_slots(caller.sub) >= self.settings.availability_slots_max:
            raise ProblemError(409, f"You have {self.settings.availability_slots_max} availability slots already; "
                                    "withdraw some before adding more.")
        await self.meetings.check_free(caller.sub, start, end, "The slot")
        await self.meetings.reserve(caller.sub, {"id": slot_id, "kind": SLOT, "starts_at": start, "ends_at": end,
                                                 "title": topic or "Meet the speaker", "with": None}, "The slot")
        doc: Document = {"_id": slot_id, "speaker_id": caller.sub, "topic": topic, "starts_at": start,
                         "ends_at": end, "status": domain.OPEN, "booked_by": None, "published_at": now}
        published = events.AvailabilitySlotPublished(slot_id=slot_id, speaker_id=caller.sub,
                                                     speaker_name=(me or {}).get("name"), topic=topic,
                                                     starts_at=start, ends_at=end, published_at=now)
        try:
            await self.repo.insert_slot(doc, [self._event(published, slot_id)])
        except Taken:
            return await self._view(await self._slot(slot_id), caller.sub), False
        except BaseException:
            await self.calendars.release(caller.sub, slot_id)
            raise
        self.net.notify()
        return await self._view(doc, caller.sub), True

    async def slots(self, caller: Principal, *, speaker_id: str | None, open_only: bool, after_time: datetime | None,
                    cursor: str | None, limit: int | None) -> dict[str, Any]:
        """Upcoming slots (not withdrawn), soonest first; `open_only` leaves out booked ones."""
        size = self.net.limit(limit)
        query: Document = {"status": domain.OPEN} if open_only else {"status": {"$ne": domain.WITHDRAWN}}
        query["starts_at"] = {"$gte": domain.as_utc(after_time) if after_time else self.net.clock()}
        if speaker_id:
            query["speaker_id"] = caller.sub if speaker_id == "me" else speaker_id
        after = None
        if cursor:
            at, slot_id = domain.decode_cursor(cursor, 2)
            try:
                after = (domain.as_utc(datetime.fromisoformat(str(at))), str(slot_id))
            except ValueError:
                raise ProblemError(400, "'cursor' is not a cursor this service gave out.") from None
        docs = await self.repo.slots_page(query, after=after, limit=size + 1)
        following = None
        if len(docs) > size:
            docs = docs[:size]
            following = domain.encode_cursor(domain.as_utc(docs[-1]["starts_at"]).isoformat(), docs[-1]["_id"])
        people = await self.net.people([i for d in docs for i in (d.get("speaker_id"), d.get("booked_by"))])
        return {"items": [domain.slot_view(d, people, caller.sub) for d in docs], "next_cursor": following}

    async def slot(self, caller: Principal, slot_id: str) -> dict[str, Any]:
        return await self._view(await self._slot(slot_id), caller.sub)

    async def book(self, caller: Principal, slot_id: str) -> tuple[dict[str, Any], bool]:
        """Book a slot; (the slot, whether the booking is new). Booking one's own booked slot again is a no-op."""
        doc = await self._slot(slot_id)
        speaker = doc.get("speaker_id")
        if speaker == caller.sub:
            raise ProblemError(422, "This is your own availability slot.")
        if doc["status"] == domain.BOOKED:
            if doc.get("booked_by") == caller.sub:
                return await self._view(doc, caller.sub), False
            raise ProblemError(409, "Someone else has booked this slot; choose another one.")
        if speaker is None:
            raise ProblemError(404, f"There is no availability slot '{slot_id}'.")
        await self.net.acting(caller)
        person = await self.net.repo.person(speaker) or {"_id": speaker}
        await self.net.refuse_if_blocked(caller, person, "book a meeting with")
        start, end = domain.as_utc(doc["starts_at"]), domain.as_utc(doc["ends_at"])
        now = self.net.clock()
        if start <= now:
            raise ProblemError(409, f"This slot ({domain.span(start, end)}) has already begun.")
        subject = "This slot"
        await self.meetings.check_free(caller.sub, start, end, subject, ignore=slot_id)
        await self.meetings.reserve(caller.sub, {"id": slot_id, "kind": BOOKING, "starts_at": start, "ends_at": end,
                                                 "title": doc.get("topic") or "Meet the speaker", "with": speaker},
                                    subject)
        booked = events.AvailabilitySlotBooked(slot_id=slot_id, speaker_id=speaker, attendee_id=caller.sub,
                                               starts_at=start, ends_at=end, booked_at=now,
                                               recipient_ids=[speaker, caller.sub])
        try:
            changed = await self.repo.change_slot(slot_id, {"status": domain.OPEN},
                                                  {"status": domain.BOOKED, "booked_by": caller.sub,
                                                   "booked_at": now}, [self._event(booked, slot_id)])
        except BaseException:
            await self.calendars.release(caller.sub, slot_id)
            raise
        if not changed:
            await self.calendars.release(caller.sub, slot_id)
            raise ProblemError(409, "Someone else has just booked this slot; choose another one.")
        self.net.notify()
        log.info("slot_booked", slot_id=slot_id)
        return await self._view(await self._slot(slot_id), caller.sub), True

    async def cancel_booking(self, caller: Principal, slot_id: str) -> dict[str, Any]:
        """The booker (or the speaker) cancels a booking: the slot is open again."""
        doc = await self._slot(slot_id)
        booker = doc.get("booked_by")
        if caller.sub not in (booker, doc.get("speaker_id")) or doc["status"] != domain.BOOKED:
            raise ProblemError(404, f"You have no booking of slot '{slot_id}'.")
        released = events.AvailabilitySlotReleased(slot_id=slot_id, speaker_id=doc["speaker_id"], attendee_id=booker,
                                                   released_by=caller.sub, released_at=self.net.clock(),
                                                   recipient_ids=[doc["speaker_id"], booker])
        if await self.repo.change_slot(slot_id, {"status": domain.BOOKED, "booked_by": booker},
                                       {"status": domain.OPEN, "booked_by": None},
                                       [self._event(released, slot_id)], unset=["booked_at"]):
            await self.calendars.release(booker, slot_id)
            self.net.notify()
        return await self._view(await self._slot(slot_id), caller.sub)

    async def withdraw(self, caller: Principal, slot_id: str) -> None:
        """The speaker (or an organiser) takes a slot back; a booking it had is cancelled with it."""
        doc = await self._slot(slot_id)
        if doc.get("speaker_id") != caller.sub and not caller.is_organiser:
            raise ProblemError(403, "Only the speaker who published this slot can withdraw it.")
        booker = doc.get("booked_by")
        withdrawn = events.AvailabilitySlotWithdrawn(
            slot_id=slot_id, speaker_id=doc.get("speaker_id"), booked_by=booker, withdrawn_at=self.net.clock(),
            recipient_ids=[i for i in (doc.get("speaker_id"), booker) if i])
        if await self.repo.change_slot(slot_id, {"status": doc["status"], "booked_by": booker},
                                       {"status": domain.WITHDRAWN}, [self._event(withdrawn, slot_id)]):
            await self.calendars.release(doc.get("speaker_id"), slot_id)
            await self.calendars.release(booker, slot_id)
            self.net.notify()
        else:
            raise ProblemError(409, "The slot changed meanwhile; look at it again.")
