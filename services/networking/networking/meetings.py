"""Use cases of meetings and "meet the speakers".

A meeting request proposes time slots; the invitee accepts one, or declines; either side cancels. A slot that
clashes with a participant's other commitments (accepted meetings, availability slots, booked slots, or sessions in
their schedule as the sessions service's events tell) is refused with a 409 naming the clash. Speakers publish
availability slots that attendees book, one booking per slot (an atomic compare-and-set on the slot).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from plenary_events import networking as events
from plenary_kit.auth import Principal
from plenary_kit.logging import get_logger
from plenary_kit.problems import ProblemError

from networking import domain
from networking.calendar import MEETING, SLOT, Calendars, Clash, MeetingsRepository
from networking.handlers import Networking
from networking.repository import Document, Taken

log = get_logger("networking.meetings")


class Meetings:
    def __init__(self, networking: Networking, repo: MeetingsRepository) -> None:
        self.net = networking
        self.settings = networking.settings
        self.repo = repo
        self.calendars = Calendars(repo, grace=timedelta(seconds=self.settings.reservation_grace_seconds),
                                   clock=lambda: self.net.clock(), still_valid=self.still_valid)

    @property
    def clock(self) -> Any:
        return self.net.clock

    def _event(self, data: Any, subject: str) -> Any:
        return self.net.event(events.MEETINGS, data, subject)

    # -- clashes ---------------------------------------------------------------------------------------------
    async def still_valid(self, person: str, entry: Document) -> bool:
        """Does the meeting or slot behind a calendar entry still hold the person to that time?"""
        if entry["kind"] == MEETING:
            meeting = await self.repo.meeting(entry["id"])
            return bool(meeting and meeting["status"] == domain.ACCEPTED
                        and person in (meeting.get("requester_id"), meeting.get("invitee_id")))
        slot = await self.repo.slot(entry["id"])
        if slot is None:
            return False
        if entry["kind"] == SLOT:
            return bool(slot["status"] != domain.WITHDRAWN and slot.get("speaker_id") == person)
        return bool(slot["status"] == domain.BOOKED and slot.get("booked_by") == person)

    async def describe(self, person: str, entry: Document) -> str:
        """What a calendar entry is, told to its owner."""
        people = await self.net.people([entry.get("with")])
        other = domain.name_of(people, entry.get("with")) if entry.get("with") else None
        if entry["kind"] == MEETING:
            return f"your meeting '{entry.get('title')}' with {other}"
        if entry["kind"] == SLOT:
            booked = f", booked by {other}" if other else ""
            return f"your availability slot '{entry.get('title') or 'Meet the speaker'}'{booked}"
        return f"your meeting with speaker {other} ('{entry.get('title') or 'Meet the speaker'}')"

    async def session_clash(self, person: str, starts_at: datetime, ends_at: datetime) -> Document | None:
        for session in sorted(await self.net.repo.scheduled_sessions(person), key=lambda s: s["starts_at"]):
            if domain.overlaps(starts_at, ends_at, session["starts_at"], session["ends_at"]):
                how = ("you speak at" if session.get("speaking") else
                       "on your waiting list" if session.get("waiting") else "in your schedule")
                return {"what": f"the session '{session.get('title')}' {how}", "starts_at": session["starts_at"],
                        "ends_at": session["ends_at"]}
        return None

    async def check_free(self, person: str, starts_at: datetime, ends_at: datetime, subject: str, *,
                         ignore: str | None = None, owner_name: str | None = None) -> None:
        """409 naming the clash when the time is not free for `person`. `owner_name` set: the clash is someone
        else's (the other participant's), told without its details."""
        clash = await self.session_clash(person, starts_at, ends_at)
        if clash is None:
            entry = await self.calendars.clashes(person, starts_at, ends_at, ignore=ignore)
            if entry is not None:
                clash = {"what": await self.describe(person, entry), "starts_at": entry["starts_at"],
                         "ends_at": entry["ends_at"]}
        if clash is not None:
            if owner_name is not None:
                clash = {**clash, "what": f"another commitment of {owner_name}"}
            raise ProblemError(409, domain.clash_sentence(subject, starts_at, ends_at, clash),
                               clash={"starts_at": domain.iso(clash["starts_at"]),
                                      "ends_at": domain.iso(clash["ends_at"]), "what": clash["what"]})

    async def reserve(self, person: str, entry: Document, subject: str, *, owner_name: str | None = None) -> None:
        try:
            await self.calendars.reserve(person, entry)
        except Clash as clash:
            what = (f"another commitment of {owner_name}" if owner_name is not None
                    else await self.describe(person, clash.entry))
            detail = {"what": what, "starts_at": clash.entry["starts_at"], "ends_at": clash.entry["ends_at"]}
            raise ProblemError(409, domain.clash_sentence(subject, entry["starts_at"], entry["ends_at"], detail),
                               clash={"starts_at": domain.iso(detail["starts_at"]),
                                      "ends_at": domain.iso(detail["ends_at"]), "what": what}) from None

    # -- meetings ----------------------------------------------------------------------------------------------
    async def _visible(self, caller: Principal, meeting_id: str) -> Document:
        doc = await self.repo.meeting(meeting_id)
        if doc is None or caller.sub not in (doc.get("requester_id"), doc.get("invitee_id")):
            raise ProblemError(404, f"There is no meeting '{meeting_id}' of yours.")
        return doc

    async def _view(self, doc: Document) -> dict[str, Any]:
        return domain.meeting_view(doc, await self.net.people([doc.get("requester_id"), doc.get("invitee_id")]))

    async def request(self, caller: Principal, cmd: domain.RequestMeeting,
                      key: str | None = None) -> tuple[dict[str, Any], bool]:
        domain.check_key(key)
        meeting_id = domain.keyed_id("mtg", caller.sub, key) if key else domain.time_id("mtg", self.clock())
        if key and (existing := await self.repo.meeting(meeting_id)) is not None:
            return await self._view(existing), False
        await self.net.acting(caller)
        invitee = await self.net.contactable(caller, cmd.invitee_id)
        await self.net.refuse_if_blocked(caller, invitee, "request a meeting with")
        subject = domain.check_text(cmd.subject, "subject", self.settings.meeting_subject_max_chars)
        note = domain.check_text(cmd.note, "note", self.settings.meeting_note_max_chars, required=False)
        if len(cmd.slots) > self.settings.meeting_slots_max:
            raise ProblemError(422, f"Propose at most {self.settings.meeting_slots_max} time slots.")
        now = self.clock()
        slots: list[tuple[datetime, datetime]] = []
        for n, slot in enumerate(cmd.slots, start=1):
            times = domain.check_slot(slot.starts_at, slot.ends_at, now, label=f"Slot {n}",
                                      min_minutes=self.settings.meeting_min_minutes,
                                      max_minutes=self.settings.meeting_max_minutes)
            if times not in slots:
                slots.append(times)
        for n, (start, end) in enumerate(slots, start=1):
            await self.check_free(caller.sub, start, end, f"Slot {n}")
        doc: Document = {"_id": meeting_id, "requester_id": caller.sub, "invitee_id": invitee["_id"],
                         "subject": subject, "note": note, "status": domain.PENDING,
                         "slots": [{"starts_at": s, "ends_at": e} for s, e in slots], "requested_at": now}
        requested = events.MeetingRequested(
            meeting_id=meeting_id, requester_id=caller.sub, invitee_id=invitee["_id"], subject=subject,
            slots=[events.TimeSlot(starts_at=s, ends_at=e) for s, e in slots], requested_at=now,
            recipient_ids=[caller.sub, invitee["_id"]])
        try:
            await self.repo.insert_meeting(doc, [self._event(requested, meeting_id)])
        except Taken:
            return await self._view(await self._visible(caller, meeting_id)), False
        self.net.notify()
        log.info("meeting_requested", meeting_id=meeting_id, slots=len(slots))
        return await self._view(doc), True

    async def meeting(self, caller: Principal, meeting_id: str) -> dict[str, Any]:
        return await self._view(await self._visible(caller, meeting_id))

    async def meetings(self, caller: Principal, status: str | None, cursor: str | None,
                       limit: int | None) -> dict[str, Any]:
        size = self.net.limit(limit)
        docs = await self.repo.meetings_of(caller.sub, status=status, before=cursor, limit=size + 1)
        following = None
        if len(docs) > size:
            docs = docs[:size]
            following = docs[-1]["_id"]
        people = await self.net.people([i for d in docs for i in (d.get("requester_id"), d.get("invitee_id"))])
        return {"items": [domain.meeting_view(d, people) for d in docs], "next_cursor": following}

    def _not_pending(self, doc: Document) -> ProblemError:
        return ProblemError(409, f"This meeting request is {doc['status']} already; nothing to answer.",
                            status_now=doc["status"])

    async def accept(self, caller: Principal, meeting_id: str, cmd: domain.AcceptMeeting) -> dict[str, Any]:
        doc = await self._visible(caller, meeting_id)
        if doc.get("invitee_id") != caller.sub:
            raise ProblemError(403, "Only the person invited can accept a meeting request; you sent this one.")
        if doc["status"] != domain.PENDING:
            raise self._not_pending(doc)
        slots = doc.get("slots") or []
        if cmd.slot >= len(slots):
            raise ProblemError(422, f"'slot' must be one of the proposed slots, 0 to {len(slots) - 1}.")
        start, end = domain.as_utc(slots[cmd.slot]["starts_at"]), domain.as_utc(slots[cmd.slot]["ends_at"])
        if start <= self.clock():
            raise ProblemError(409, f"That slot ({domain.span(start, end)}) has already begun; choose another.")
        await self.net.acting(caller)
        requester = doc.get("requester_id")
        if requester is None:
            raise ProblemError(409, "The person who asked for this meeting has left Plenary.")
        requester_name = domain.name_of(await self.net.people([requester]), requester)
        subject = f"The slot you chose for '{doc['subject']}'"
        await self.check_free(caller.sub, start, end, subject, ignore=meeting_id)
        await self.check_free(requester, start, end, subject, ignore=meeting_id, owner_name=requester_name)
        mine = {"id": meeting_id, "kind": MEETING, "starts_at": start, "ends_at": end, "title": doc["subject"]}
        await self.reserve(caller.sub, {**mine, "with": requester}, subject)
        try:
            await self.reserve(requester, {**mine, "with": caller.sub}, subject, owner_name=requester_name)
            now = self.clock()
            accepted = events.MeetingAccepted(meeting_id=meeting_id, requester_id=requester, invitee_id=caller.sub,
                                              subject=doc["subject"], starts_at=start, ends_at=end, accepted_at=now,
                                              recipient_ids=[requester, caller.sub])
            changed = await self.repo.transition(
                meeting_id, domain.PENDING, {"status": domain.ACCEPTED, "accepted_slot": cmd.slot,
                                             "starts_at": start, "ends_at": end, "answered_at": now},
                [self._event(accepted, meeting_id)])
        except BaseException:
            await self.calendars.release(caller.sub, meeting_id)
            await self.calendars.release(requester, meeting_id)
            raise
        if not changed:
            await self.calendars.release(caller.sub, meeting_id)
            await self.calendars.release(requester, meeting_id)
            raise self._not_pending(await self._visible(caller, meeting_id))
        self.net.notify()
        log.info("meeting_accepted", meeting_id=meeting_id)
        return await self.meeting(caller, meeting_id)

    async def decline(self, caller: Principal, meeting_id: str) -> dict[str, Any]:
        doc = await self._visible(caller, meeting_id)
        if doc.get("invitee_id") != caller.sub:
            raise ProblemError(403, "Only the person invited can decline a meeting request; cancel your own "
                                    "request instead.")
        now = self.clock()
        declined = events.MeetingDeclined(meeting_id=meeting_id, requester_id=doc.get("requester_id") or "",
                                          invitee_id=caller.sub, declined_at=now,
                                          recipient_ids=[i for i in (doc.get("requester_id"), caller.sub) if i])
        if not await self.repo.transition(meeting_id, domain.PENDING, {"status": domain.DECLINED,
                                                                       "answered_at": now},
                                          [self._event(declined, meeting_id)]):
            raise self._not_pending(await self._visible(caller, meeting_id))
        self.net.notify()
        return await self.meeting(caller, meeting_id)

    async def cancel(self, caller: Principal, meeting_id: str) -> dict[str, Any]:
        """The requester withdraws a pending request; either participant calls off an accepted meeting."""
        doc = await self._visible(caller, meeting_id)
        was = doc["status"]
        if was == domain.PENDING and doc.get("requester_id") != caller.sub:
            raise ProblemError(403, "Decline this meeting request instead: only its sender can withdraw it.")
        if was not in (domain.PENDING, domain.ACCEPTED):
            raise ProblemError(409, f"This meeting is {was} already.", status_now=was)
        now = self.clock()
        people = [i for i in (doc.get("requester_id"), doc.get("invitee_id")) if i]
        cancelled = events.MeetingCancelled(meeting_id=meeting_id, requester_id=doc.get("requester_id"),
                                            invitee_id=doc.get("invitee_id"), cancelled_by=caller.sub, was=was,
                                            starts_at=doc.get("starts_at"), cancelled_at=now, recipient_ids=people)
        if not await self.repo.transition(meeting_id, was, {"status": domain.CANCELLED, "cancelled_by": caller.sub,
                                                            "cancelled_at": now},
                                          [self._event(cancelled, meeting_id)]):
            raise ProblemError(409, "The meeting changed meanwhile; look at it again.")
        for person in people:
            await self.calendars.release(person, meeting_id)
        self.net.notify()
        return await self.meeting(caller, meeting_id)

    async def calendar(self, caller: Principal) -> dict[str, Any]:
        """The caller's commitments from now on: meetings, availability slots, bookings and scheduled sessions."""
        now = self.clock()
        entries = await self.calendars.entries(caller.sub)
        people = await self.net.people([e.get("with") for e in entries])
        items = [{"kind": e["kind"], "id": e["id"], "title": e.get("title"), "starts_at": domain.iso(e["starts_at"]),
                  "ends_at": domain.iso(e["ends_at"]),
                  "with": ({"id": e["with"], "name": domain.name_of(people, e["with"])} if e.get("with") else None)}
                 for e in entries]
        for session in await self.net.repo.scheduled_sessions(caller.sub):
            if domain.as_utc(session["ends_at"]) > now:
                items.append({"kind": "session", "id": session["_id"], "title": session.get("title"),
                              "starts_at": domain.iso(session["starts_at"]), "ends_at": domain.iso(session["ends_at"]),
                              "with": None})
        items.sort(key=lambda i: (i["starts_at"] or "", i["id"]))
        return {"items": items}
