"""Live sessions: joining and leaving with heartbeats, viewer counts, and the clock that moves session states.

One `attendance` document per person and session (unique index): `online` and `last_seen_at` make the concurrent
viewers, the number of documents the distinct attendees. Joins and leaves carry their events in that document's
outbox. The `Ticker` (a lifespan component, one per replica; every step is a guarded update so replicas do not
double anything) moves sessions by the clock, times out silent viewers and publishes changed viewer counts.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from plenary_events.sessions import ATTENDANCE, AttendeeJoined, AttendeeLeft, ViewersCounted
from plenary_kit.auth import Principal
from plenary_kit.logging import get_logger
from plenary_kit.problems import ProblemError
from plenary_kit.tasks import stop_task, wait_event

from sessions.context import Context
from sessions.domain import ENDED, check_joinable, clock_status, effective_status, stream_window_open
from sessions.handlers import Agenda
from sessions.repository import Doc

log = get_logger("sessions.live")


class Live:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.repo = ctx.repo

    @property
    def timeout(self) -> timedelta:
        return timedelta(seconds=self.ctx.settings.heartbeat_timeout_seconds)

    async def join(self, principal: Principal, session_id: str) -> Doc:
        session = await self.ctx.session_or_404(session_id)
        now = self.ctx.now()
        status = effective_status(session, now, self.ctx.overrun)
        check_joinable(session, status, now, self.ctx.lead)
        access = await self.ctx.access(principal, session)
        if not access.allowed_in:
            raise ProblemError(403, access.reason)
        aid = principal.sub
        cutoff = now - self.timeout
        again = [self.ctx.event(ATTENDANCE, AttendeeJoined(session_id=session_id, attendee_id=aid, first_time=False,
                                                           at=now), session_id)]
        joined = await self.repo.rejoin(session_id, aid, now, cutoff, again)
        if not joined:
            first = [self.ctx.event(ATTENDANCE, AttendeeJoined(session_id=session_id, attendee_id=aid,
                                                               first_time=True, at=now), session_id)]
            joined = await self.repo.first_join({
                "_id": self.repo.attendance_id(session_id, aid), "session_id": session_id, "attendee_id": aid,
                "online": True, "first_joined_at": now, "last_seen_at": now, "joins": 1, "_outbox": first,
            })
            if not joined:  # already online: a join is then just a heartbeat
                await self.repo.heartbeat(session_id, aid, now, cutoff)
        if joined:
            await self.repo.touch_counts(session_id, now)
        return {"session_id": session_id, "status": status, "joined": True,
                "stream_url": session.get("stream_url") if stream_window_open(session, status, now, self.ctx.lead)
                else None,
                "heartbeat_seconds": max(int(self.timeout.total_seconds() / 3), 1)}

    async def heartbeat(self, principal: Principal, session_id: str) -> Doc:
        now = self.ctx.now()
        if await self.repo.heartbeat(session_id, principal.sub, now, now - self.timeout):
            session = await self.ctx.session_or_404(session_id)
            if effective_status(session, now, self.ctx.overrun) == ENDED:
                await self.leave(principal, session_id, reason="ended")
                raise ProblemError(409, "This session has ended.")
            return {"session_id": session_id, "online": True}
        return await self.join(principal, session_id)  # gone for too long (or never joined): join again

    async def leave(self, principal: Principal, session_id: str, reason: str = "left") -> None:
        now = self.ctx.now()
        event = self.ctx.event(ATTENDANCE, AttendeeLeft(session_id=session_id, attendee_id=principal.sub,
                                                        reason=reason, at=now), session_id)
        if await self.repo.go_offline(self.repo.attendance_id(session_id, principal.sub), {}, now, [event]):
            await self.repo.touch_counts(session_id, now)

    async def counts(self, session_id: str) -> Doc:
        await self.ctx.session_or_404(session_id)
        viewers, distinct = await self.repo.count_viewers(session_id, self.ctx.now() - self.timeout)
        return {"session_id": session_id, "viewers": viewers, "distinct_attendees": distinct}

    # -- background steps (the Ticker runs them; tests call them directly) ------------------------------------------
    async def sweep(self) -> int:
        """Viewers without a heartbeat for the timeout have left."""
        now = self.ctx.now()
        gone = 0
        for doc in await self.repo.stale_viewers(now - self.timeout):
            left = AttendeeLeft(session_id=doc["session_id"], attendee_id=doc["attendee_id"], reason="timeout", at=now)
            event = self.ctx.event(ATTENDANCE, left, doc["session_id"])
            if await self.repo.go_offline(doc["_id"], {"last_seen_at": doc["last_seen_at"]}, now, [event]):
                await self.repo.touch_counts(doc["session_id"], now)
                gone += 1
        return gone

    async def publish_counts(self) -> int:
        """Publish each active session's viewers and distinct attendees when they changed since last time."""
        now = self.ctx.now()
        published = 0
        for doc in await self.repo.counts_to_refresh(now - 2 * self.timeout):
            sid = doc["_id"]
            new = await self.repo.count_viewers(sid, now - self.timeout)
            old = (int(doc.get("viewers", 0)), int(doc.get("distinct_attendees", 0)))
            if new == old and doc.get("counted_at") is not None:
                continue
            event = self.ctx.event(ATTENDANCE, ViewersCounted(session_id=sid, viewers=new[0],
                                                              distinct_attendees=new[1], at=now), sid)
            if await self.repo.publish_counts(sid, old, new, now, [event]):
                published += 1
        return published


class Clock:
    """Moves sessions by the clock: scheduled -> live at the start, live -> ended at the end."""

    def __init__(self, ctx: Context, agenda: Agenda) -> None:
        self.ctx = ctx
        self.agenda = agenda

    async def advance(self) -> int:
        moved = 0
        now = self.ctx.now()
        for session in await self.ctx.repo.sessions_due(now):
            wanted = clock_status(session, now, self.ctx.overrun)
            if wanted and await self.agenda.change_status(session, wanted, manual=False):
                moved += 1
        return moved


class Ticker:
    """A lifespan component: every `clock_interval_seconds`, the clock, the viewer sweep and the counts."""

    def __init__(self, steps: list[Any], interval: float) -> None:
        self._steps = steps
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="sessions:ticker")

    async def stop(self) -> None:
        self._stopping.set()
        await stop_task(self._task, 10)
        self._task = None

    async def tick(self) -> None:
        for step in self._steps:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be down for a moment; the next tick tries again
                log.warning("tick_step_failed", step=getattr(step, "__qualname__", str(step)), error=str(exc)[:300])

    async def _run(self) -> None:
        while not self._stopping.is_set():
            await self.tick()
            await wait_event(self._stopping, self._interval)
