"""Leads by consent, and the projection of registration events they need.

Two consents make a lead: the person allows exhibitor contact in their registration profile (`exhibitor_contact`,
which brings their name, e-mail and organisation into this service's `contacts` projection), and they share their
details with one exhibitor at its booth (the time is recorded). Either can be withdrawn at any moment: revoking the
share, turning the profile consent off, or erasure removes the lead. The exhibitor's staff see and export their own
leads; nobody else learns that a lead exists (404). Lead events carry ids and times, never the contact details.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from plenary_events import exhibition as events
from plenary_events import registration
from plenary_kit.auth import Principal
from plenary_kit.envelope import DecodedEvent
from plenary_kit.logging import get_logger
from plenary_kit.problems import ProblemError

from exhibition import domain
from exhibition.handlers import Exhibition

log = get_logger("exhibition.leads")

NO_CONSENT = ("Your profile does not allow sharing your contact details with exhibitors. Turn on the "
              "'exhibitor contact' consent in your registration profile, then share again (if you have just turned "
              "it on, wait a few seconds).")


class Leads:
    def __init__(self, exhibition: Exhibition) -> None:
        self.exhibition = exhibition
        self.repo = exhibition.repo
        self.topic = exhibition.settings.topic(events.LEADS)

    def _revoked(self, exhibitor_id: str, attendee_id: str, now: datetime, reason: str) -> Any:
        data = events.LeadRevoked(exhibitor_id=exhibitor_id, attendee_id=attendee_id, revoked_at=now, reason=reason)
        return self.exhibition.event(self.topic, data, exhibitor_id)

    async def _revoke(self, exhibitor_id: str, attendee_id: str, now: datetime, reason: str) -> bool:
        pending = [self._revoked(exhibitor_id, attendee_id, now, reason)]
        if not await self.repo.revoke(exhibitor_id, attendee_id, now, reason, pending):
            return False
        self.exhibition.published(self.repo.leads, self.repo.lead_id(exhibitor_id, attendee_id), pending)
        return True

    # -- the attendee's side ---------------------------------------------------------------------------------
    async def share(self, caller: Principal, exhibitor_id: str) -> tuple[dict[str, Any], bool]:
        """Share the caller's contact details with an exhibitor; (the share, whether it is new)."""
        self.exhibition.check_visible(caller)
        doc = await self.exhibition.exhibitor(exhibitor_id)
        now = self.exhibition.clock()
        window = self.exhibition.window
        if window.state(now) != domain.OPEN:
            raise ProblemError(403, window.message(now), **window.extensions())
        if await self.repo.contact(caller.sub) is None:
            raise ProblemError(409, NO_CONSENT)
        shared = events.LeadShared(exhibitor_id=exhibitor_id, attendee_id=caller.sub, shared_at=now)
        pending = [self.exhibition.event(self.topic, shared, exhibitor_id)]
        created = await self.repo.share(exhibitor_id, caller.sub, now, pending)
        if created:
            self.exhibition.published(self.repo.leads, self.repo.lead_id(exhibitor_id, caller.sub), pending)
            log.info("lead_shared", exhibitor_id=exhibitor_id)
        lead = await self.repo.lead(exhibitor_id, caller.sub)
        return self._share_view(doc, lead or {"shared_at": now}), created

    @staticmethod
    def _share_view(exhibitor: dict[str, Any], lead: dict[str, Any]) -> dict[str, Any]:
        return {"exhibitor_id": exhibitor["_id"], "organisation": exhibitor["organisation"],
                "shared_at": domain.iso(lead.get("shared_at"))}

    async def revoke(self, caller: Principal, exhibitor_id: str) -> bool:
        """Stop sharing with an exhibitor: the lead is gone at once. Always allowed, idempotent."""
        now = self.exhibition.clock()
        revoked = await self._revoke(exhibitor_id, caller.sub, now, "revoked")
        if revoked:
            log.info("lead_revoked", exhibitor_id=exhibitor_id)
        return revoked

    async def my_shares(self, caller: Principal) -> list[dict[str, Any]]:
        shares = []
        for lead in sorted(await self.repo.leads_of_attendee(caller.sub), key=lambda d: d["shared_at"],
                           reverse=True):
            exhibitor = await self.repo.exhibitor(lead["exhibitor_id"])
            if exhibitor is not None:
                shares.append(self._share_view(exhibitor, lead))
        return shares

    # -- the exhibitor's side --------------------------------------------------------------------------------
    def _check_staff(self, caller: Principal, exhibitor_id: str) -> None:
        if not domain.is_staff(caller, exhibitor_id):
            raise ProblemError(404, f"There are no leads of exhibitor '{exhibitor_id}' that you can see.")

    async def page(self, caller: Principal, exhibitor_id: str, *, offset: int, limit: int) -> dict[str, Any]:
        self._check_staff(caller, exhibitor_id)
        total = await self.repo.count_leads(exhibitor_id)
        leads = await self.repo.leads_of_exhibitor(exhibitor_id, skip=offset, limit=limit)
        contacts = await self.repo.contacts_of([lead["attendee_id"] for lead in leads])
        items = [domain.lead_view(lead, contacts[lead["attendee_id"]]) for lead in leads
                 if lead["attendee_id"] in contacts]
        following = offset + limit if offset + limit < total else None
        return {"items": items, "total": total, "offset": offset, "limit": limit, "next_offset": following}

    async def export(self, caller: Principal, exhibitor_id: str, batch: int = 500) -> AsyncIterator[dict[str, Any]]:
        """Every lead of the exhibitor (staff only), newest first, fetched a batch at a time."""
        self._check_staff(caller, exhibitor_id)

        async def rows() -> AsyncIterator[dict[str, Any]]:
            offset = 0
            while True:
                leads = await self.repo.leads_of_exhibitor(exhibitor_id, skip=offset, limit=batch)
                contacts = await self.repo.contacts_of([lead["attendee_id"] for lead in leads])
                for lead in leads:
                    if lead["attendee_id"] in contacts:
                        yield domain.lead_view(lead, contacts[lead["attendee_id"]])
                if len(leads) < batch:
                    return
                offset += batch

        return rows()

    async def count(self, caller: Principal, exhibitor_id: str) -> int | None:
        """The number of leads, for the booth's figures: only its staff learn it."""
        return await self.repo.count_leads(exhibitor_id) if domain.is_staff(caller, exhibitor_id) else None

    async def revoke_all_of_exhibitor(self, exhibitor_id: str) -> None:
        now = self.exhibition.clock()
        for lead in await self.repo.leads_of_exhibitor(exhibitor_id):
            await self._revoke(exhibitor_id, lead["attendee_id"], now, "exhibitor-removed")

    async def _revoke_all_of(self, attendee_id: str, reason: str, now: datetime) -> int:
        revoked = 0
        for lead in await self.repo.leads_of_attendee(attendee_id):
            if await self._revoke(lead["exhibitor_id"], attendee_id, now, reason):
                revoked += 1
        return revoked

    # -- registration events (consumer group exhibition.registration) -------------------------------------------
    async def on_registration_event(self, event: DecodedEvent) -> None:
        data = event.data
        now = self.exhibition.clock()
        if isinstance(data, registration.AttendeeRegistered | registration.AttendeeUpdated):
            at = data.registered_at if isinstance(data, registration.AttendeeRegistered) else data.updated_at
            fields = ({"name": data.name, "email": data.email, "organisation": data.organisation}
                      if data.exhibitor_contact_opt_in else None)
            done = await self.repo.put_contact(data.attendee_id, domain.as_utc(at), fields)
            if done == "withdrawn":
                revoked = await self._revoke_all_of(data.attendee_id, "consent-withdrawn", now)
                if revoked:
                    log.info("leads_revoked_consent_withdrawn", count=revoked, event_id=event.envelope.id)
        elif isinstance(data, registration.AttendeeErased):
            await self.erase(data.attendee_id, domain.as_utc(data.erased_at))
            log.info("attendee_erased", event_id=event.envelope.id)

    async def erase(self, attendee_id: str, at: datetime) -> None:
        """Remove what this service holds about a person: their contact details, leads and the link between them
        and their visits and downloads (the counts stay). Idempotent."""
        now = self.exhibition.clock()
        await self.repo.erase_contact(attendee_id, at)
        await self._revoke_all_of(attendee_id, "erased", now)
        await self.repo.forget_visitor(self.exhibition.visitor(Principal(sub=attendee_id)),
                                       f"erased-{uuid.uuid4().hex}")
        await self.repo.forget_author(attendee_id)
