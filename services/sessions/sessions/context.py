"""What every use case of the service needs: the repository, the settings and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from plenary_events.registry import registry
from plenary_events.sessions import SOURCE
from plenary_kit.auth import Principal
from plenary_kit.envelope import EventData
from plenary_kit.problems import ProblemError

from sessions.domain import Access, access_for, panel_of, utcnow
from sessions.repository import Doc, Repository
from sessions.settings import Settings


@dataclass
class Context:
    repo: Repository
    settings: Settings
    clock: Callable[[], datetime] = utcnow
    extras: dict[str, Any] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()

    @property
    def lead(self) -> timedelta:
        return timedelta(minutes=self.settings.stream_lead_minutes)

    @property
    def overrun(self) -> timedelta:
        return timedelta(minutes=self.settings.overrun_grace_minutes)

    def event(self, topic: str, data: EventData, subject: str) -> Doc:
        """One outbox entry: the envelope of `data`, to be published on `topic` (with the deployment's prefix)
        with key `subject`."""
        return registry.envelope(data, source=SOURCE, subject=subject).to_doc(self.settings.topic(topic))

    async def session_or_404(self, session_id: str) -> Doc:
        session = await self.repo.get_session(session_id)
        if session is None:
            raise ProblemError(404, f"There is no session {session_id!r}.")
        return session

    async def access(self, principal: Principal | None, session: Doc) -> Access:
        if principal is None:
            return access_for(None, session, linked_speaker_ids=set(), invited=False, seat_state=None)
        linked = set() if principal.is_organiser else \
            await self.repo.linked_speaker_ids(principal.sub, panel_of(session))
        invited = bool(session.get("closed")) and await self.repo.is_invited(session["_id"], principal.sub)
        seat_state = None
        if session.get("capacity") is not None:
            enrolment = await self.repo.get_enrolment(session["_id"], principal.sub)
            seat_state = enrolment["state"] if enrolment else None
        return access_for(principal, session, linked_speaker_ids=linked, invited=invited, seat_state=seat_state)
