"""Seats, waiting lists and personal schedules.

The truth is the session's `seats` document (see repository.py); every change to it is one guarded findAndModify:
- enrol: `take_seat` (only when a seat is free AND nobody waits, so nobody jumps the queue) or else `join_queue`;
  each success consumes one arrival number, so arrivals are 1, 2, 3, ... in the order the database decided them.
- withdraw: `release_seat` / `leave_queue` (guarded by membership: a retry changes nothing).
- promote: `promote_head` gives a free seat to the first waiting person only while they are still first and the
  seat still free; concurrent promoters cannot seat the same person twice nor exceed the capacity.
After each change the actor reconciles the person's `enrolments` projection (`sync`), which is a compare-and-set
on its revision and emits the transition's event (enrolled, waitlisted, promoted, withdrawn) in the same update.
"""

from __future__ import annotations

from typing import Any

from plenary_events.sessions import (
    ENROLMENTS,
    EnrolmentPromoted,
    EnrolmentSeated,
    EnrolmentWaitlisted,
    EnrolmentWithdrawn,
)
from plenary_kit.auth import Principal
from plenary_kit.problems import ProblemError

from sessions.context import Context
from sessions.domain import (
    SEATED,
    WAITING,
    WITHDRAWN,
    check_enrollable,
    effective_status,
    flag_overlaps,
)
from sessions.repository import Doc

MAX_ATTEMPTS = 50


def seat_truth(seats: Doc | None, attendee_id: str) -> tuple[str, int | None]:
    """(seated | waiting | withdrawn, position in the waiting list when waiting)."""
    if seats is None:
        return WITHDRAWN, None
    if attendee_id in seats.get("seated", []):
        return SEATED, None
    queue = seats.get("queue", [])
    if attendee_id in queue:
        return WAITING, queue.index(attendee_id) + 1
    return WITHDRAWN, None


class Seats:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.repo = ctx.repo

    # -- commands ---------------------------------------------------------------------------------------------------
    async def enrol(self, principal: Principal, session_id: str) -> tuple[Doc, bool]:
        """Take a seat, or a place on the waiting list. Returns (enrolment view, created now)."""
        session = await self.ctx.session_or_404(session_id)
        check_enrollable(session, effective_status(session, self.ctx.now(), self.ctx.overrun))
        if session.get("closed"):
            access = await self.ctx.access(principal, session)
            if not access.allowed_in:
                raise ProblemError(403, access.reason)
        aid = principal.sub
        await self.repo.ensure_seats(session_id, session.get("capacity"))
        arrival: int | None = None
        created = False
        for _ in range(MAX_ATTEMPTS):
            seats = await self.repo.get_seats(session_id)
            assert seats is not None
            state, _ = seat_truth(seats, aid)
            if state != WITHDRAWN:
                break
            capacity = seats.get("capacity")
            if capacity is None or (seats.get("taken", 0) < capacity and not seats.get("queue")):
                after = await self.repo.take_seat(session_id, aid, capacity)
            else:
                after = await self.repo.join_queue(session_id, aid, capacity)
            if after is not None:
                arrival, created = int(after["arrivals"]), True
                break
        else:  # pragma: no cover - only under a storm of capacity changes
            raise ProblemError(503, "The session's seats are changing too fast; try again in a moment.",
                               headers={"Retry-After": "1"})
        if created and seat_truth(await self.repo.get_seats(session_id), aid)[0] == WAITING:
            await self.promote(session_id)  # a seat may have been freed while we queued
        await self.sync(session_id, aid, arrival)
        return await self.view(session_id, aid), created

    async def withdraw(self, attendee_id: str, session_id: str) -> None:
        """Leave the seat or the waiting list (a freed seat goes to the first waiting person at once)."""
        released = await self.repo.release_seat(session_id, attendee_id)
        if not released:
            await self.repo.leave_queue(session_id, attendee_id)
        await self.sync(session_id, attendee_id)
        if released:
            await self.promote(session_id)

    async def promote(self, session_id: str) -> list[str]:
        """Seat the first waiting people while seats are free; safe to run anywhere, any number of times."""
        promoted: list[str] = []
        for _ in range(100_000):
            seats = await self.repo.get_seats(session_id)
            if seats is None or seats.get("capacity") is None:
                break
            capacity, queue = seats["capacity"], seats.get("queue", [])
            if not queue or seats.get("taken", 0) >= capacity:
                break
            head = queue[0]
            if await self.repo.promote_head(session_id, head, capacity):
                promoted.append(head)
                await self.sync(session_id, head)
        return promoted

    async def set_capacity(self, session_id: str, capacity: int | None) -> None:
        """A bigger capacity seats people from the waiting list; a smaller one seats nobody new until it fits."""
        await self.repo.set_capacity(session_id, capacity)
        seats = await self.repo.get_seats(session_id)
        if capacity is None and seats and seats.get("queue"):
            for aid in list(seats["queue"]):  # no limit any more: everyone waiting is seated, in order
                if await self.repo.seat_unlimited(session_id, aid):
                    await self.sync(session_id, aid)
        await self.promote(session_id)

    async def withdraw_everywhere(self, attendee_id: str) -> None:
        for enrolment in await self.repo.enrolments_of(attendee_id):
            await self.withdraw(attendee_id, enrolment["session_id"])

    # -- the projection ---------------------------------------------------------------------------------------------
    async def sync(self, session_id: str, attendee_id: str, arrival: int | None = None) -> Doc | None:
        """Make the person's enrolment document agree with the seats document, emitting the transition's event.

        Reads the projection first and the truth second, then compare-and-sets on the projection's revision: a
        writer with an older truth always loses to one with a newer truth, so the last state written is right.
        """
        eid = self.repo.enrolment_id(session_id, attendee_id)
        for _ in range(MAX_ATTEMPTS):
            current = await self.repo.get_enrolment(session_id, attendee_id)
            truth, position = seat_truth(await self.repo.get_seats(session_id), attendee_id)
            was = current["state"] if current else WITHDRAWN
            keep_arrival = arrival is None or (current is not None and current.get("arrival") == arrival)
            if current is not None and was == truth and keep_arrival:
                return current
            if current is None and truth == WITHDRAWN:
                return None
            now = self.ctx.now()
            outbox = []
            if was != truth:
                outbox.append(self._event(session_id, attendee_id, was, truth, arrival or
                                          (current or {}).get("arrival"), position))
            changes: Doc = {"state": truth, "updated_at": now}
            if arrival is not None:
                changes["arrival"] = arrival
            if truth == SEATED and was != SEATED:
                changes["seated_at"] = now
            if current is None:
                doc = {"_id": eid, "session_id": session_id, "attendee_id": attendee_id, "rev": 1,
                       "arrival": arrival, "created_at": now, **changes, "_outbox": outbox}
                if await self.repo.insert_enrolment(doc):
                    return doc
            elif await self.repo.cas_enrolment(eid, int(current["rev"]), changes, outbox):
                return await self.repo.get_enrolment(session_id, attendee_id)
        raise ProblemError(503, "Your enrolment is changing too fast; try again in a moment.",
                           headers={"Retry-After": "1"})

    def _event(self, session_id: str, attendee_id: str, was: str, now_state: str, arrival: int | None,
               position: int | None) -> Doc:
        at = self.ctx.now()
        data: Any
        if now_state == SEATED and was == WAITING:
            data = EnrolmentPromoted(session_id=session_id, attendee_id=attendee_id, arrival=arrival, at=at)
        elif now_state == SEATED:
            data = EnrolmentSeated(session_id=session_id, attendee_id=attendee_id, arrival=arrival, at=at)
        elif now_state == WAITING:
            data = EnrolmentWaitlisted(session_id=session_id, attendee_id=attendee_id, arrival=arrival,
                                       position=position, at=at)
        else:
            data = EnrolmentWithdrawn(session_id=session_id, attendee_id=attendee_id, was=was, at=at)
        return self.ctx.event(ENROLMENTS, data, session_id)

    # -- queries ----------------------------------------------------------------------------------------------------
    async def view(self, session_id: str, attendee_id: str) -> Doc:
        seats = await self.repo.get_seats(session_id)
        truth, position = seat_truth(seats, attendee_id)
        enrolment = await self.repo.get_enrolment(session_id, attendee_id)
        return {
            "session_id": session_id,
            "attendee_id": attendee_id,
            "state": truth,
            "arrival": enrolment.get("arrival") if enrolment else None,
            "position": position,
            "seats": seat_summary(seats),
        }

    async def waiting_list(self, session_id: str) -> Doc:
        seats = await self.repo.get_seats(session_id)
        enrolments = {e["attendee_id"]: e for e in await self.repo.enrolments_of_session(session_id)}
        queue = (seats or {}).get("queue", [])
        seated = (seats or {}).get("seated", [])
        return {
            "session_id": session_id,
            "seats": seat_summary(seats),
            "seated": [{"attendee_id": a, "arrival": enrolments.get(a, {}).get("arrival")} for a in seated],
            "waiting": [{"attendee_id": a, "position": i + 1, "arrival": enrolments.get(a, {}).get("arrival")}
                        for i, a in enumerate(queue)],
        }

    async def schedule(self, attendee_id: str) -> list[Doc]:
        enrolments = await self.repo.enrolments_of(attendee_id)
        sessions = await self.repo.sessions_by_ids([e["session_id"] for e in enrolments])
        items = []
        for enrolment in enrolments:
            session = sessions.get(enrolment["session_id"])
            if session is None:
                continue
            items.append({"session_id": session["_id"], "state": enrolment["state"], "session": session,
                          "starts_at": session["starts_at"], "ends_at": session["ends_at"]})
        return flag_overlaps(items)


def seat_summary(seats: Doc | None) -> Doc:
    seats = seats or {}
    capacity = seats.get("capacity")
    taken = int(seats.get("taken", 0))
    return {
        "capacity": capacity,
        "seated": taken,
        "waiting": len(seats.get("queue", [])),
        "available": None if capacity is None else max(capacity - taken, 0),
    }
