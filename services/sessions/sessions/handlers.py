"""Use cases of the agenda and the speakers directory, and the consumer of registration's attendee events.

Every change of a session or a speaker is one single-document write that carries its event in the document's
outbox (compare-and-set on the session's `version`), so the agenda and its events never disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, tzinfo
from typing import Any

from plenary_events.reference import is_country
from plenary_events.registration import AttendeeCancelled, AttendeeErased, AttendeeRegistered, AttendeeUpdated
from plenary_events.sessions import (
    AGENDA,
    RecordingPublished,
    SessionCancelled,
    SessionScheduled,
    SessionTags,
    SessionUpdated,
    SpeakerPublished,
    SpeakerRemoved,
)
from plenary_kit.auth import Principal
from plenary_kit.envelope import DecodedEvent
from plenary_kit.problems import ProblemError
from pymongo.errors import DuplicateKeyError

from sessions.context import Context
from sessions.domain import (
    CANCELLED,
    ENDED,
    LIVE,
    SCHEDULED,
    as_utc,
    check_session_fields,
    check_times,
    check_transition,
    day_window,
    effective_status,
    normalise_tags,
    require_aware,
    require_moderator,
    speaker_clash,
    stream_window_open,
)
from sessions.repository import Doc, new_id
from sessions.seats import Seats
from sessions.views import session_view, speaker_snapshot

SNAPSHOT_FIELDS = ("title", "description", "type", "track", "starts_at", "ends_at", "language", "capacity",
                   "speaker_ids", "moderator_ids", "closed", "status")


@dataclass
class AgendaFilter:
    day: date | None = None
    track: str | None = None
    type: str | None = None
    action_line: str | None = None
    sdg: int | None = None
    covid19: bool | None = None
    speaker: str | None = None
    language: str | None = None
    q: str | None = None
    status: str | None = None
    include_cancelled: bool = False


def snapshot(session: Doc) -> dict[str, Any]:
    data = {name: session.get(name) for name in SNAPSHOT_FIELDS}
    data["tags"] = SessionTags(**session.get("tags", {}))
    return {"session_id": session["_id"], **data}


class Agenda:
    def __init__(self, ctx: Context, seats: Seats) -> None:
        self.ctx = ctx
        self.repo = ctx.repo
        self.seats = seats

    # -- sessions: commands -----------------------------------------------------------------------------------------
    async def create_session(self, fields: dict[str, Any]) -> Doc:
        fields = dict(fields)
        check_session_fields(fields)
        starts = require_aware(fields["starts_at"], "starts_at")
        ends = require_aware(fields["ends_at"], "ends_at")
        check_times(starts, ends)
        tags = fields.pop("tags", None) or {}
        fields["tags"] = normalise_tags(tags.get("action_lines", []), tags.get("sdgs", []),
                                        tags.get("covid19", False)).to_doc()
        fields["speaker_ids"] = list(dict.fromkeys(fields.get("speaker_ids") or []))
        fields["moderator_ids"] = list(dict.fromkeys(fields.get("moderator_ids") or []))
        key = fields.pop("key", None)
        if key and (existing := await self.repo.get_session(new_id("ses", key))):
            raise ProblemError(409, f"A session with key {key!r} exists already ({existing['_id']}).",
                               session_id=existing["_id"])
        async with self.repo.panel_locks.hold([*fields["speaker_ids"], *fields["moderator_ids"]]):
            return await self._create_session(fields, key, starts, ends)

    async def _create_session(self, fields: dict[str, Any], key: str | None, starts: Any, ends: Any) -> Doc:
        """Under the booking locks of the panel: no one else books these people between the check and the insert.
        A retried create (same key) that finds its own first attempt done is no clash: the insert answers 409
        with the session's id, as for any existing key."""
        own_id = new_id("ses", key) if key else None
        await self._check_panel(own_id, starts, ends, fields["speaker_ids"], fields["moderator_ids"])
        now = self.ctx.now()
        doc: Doc = {
            "_id": new_id("ses", key), **fields, "starts_at": starts, "ends_at": ends, "status": "scheduled",
            "status_manual": False, "premoderation": bool(fields.get("premoderation", False)), "version": 1,
            "created_at": now, "updated_at": now,
        }
        if key:
            doc["key"] = key
        doc["_outbox"] = [self.ctx.event(AGENDA, SessionScheduled(**snapshot(doc)), doc["_id"])]
        try:
            await self.repo.insert_session(doc)
        except DuplicateKeyError as exc:
            existing = await self.repo.get_session_by_key(key) if key else None
            raise ProblemError(409, f"A session with key {key!r} exists already.",
                               session_id=existing["_id"] if existing else None) from exc
        await self.repo.ensure_seats(doc["_id"], doc.get("capacity"))
        doc.pop("_outbox")
        return doc

    async def edit_session(self, session_id: str, changes: dict[str, Any]) -> Doc:
        """Edit or reschedule (only the fields given). The whole snapshot after the change is the event."""
        changes = dict(changes)
        check_session_fields(changes)
        for _ in range(20):
            session = await self.ctx.session_or_404(session_id)
            if session["status"] == CANCELLED:
                raise ProblemError(409, "This session was cancelled; it can no longer be edited.")
            update = dict(changes)
            for name in ("starts_at", "ends_at"):
                if name in update:
                    update[name] = require_aware(update[name], name)
            if "tags" in update:
                tags = {**session.get("tags", {}), **(update["tags"] or {})}
                update["tags"] = normalise_tags(tags.get("action_lines", []), tags.get("sdgs", []),
                                                tags.get("covid19", False)).to_doc()
            for name in ("speaker_ids", "moderator_ids"):
                if name in update:
                    update[name] = list(dict.fromkeys(update[name] or []))
            merged = {**session, **update}
            starts, ends = as_utc(merged["starts_at"]), as_utc(merged["ends_at"])
            check_times(starts, ends)
            books = any(n in update for n in ("starts_at", "ends_at", "speaker_ids", "moderator_ids"))
            async with self.repo.panel_locks.hold([*merged["speaker_ids"], *merged["moderator_ids"]] if books else []):
                if books:
                    await self._check_panel(session_id, starts, ends, merged["speaker_ids"], merged["moderator_ids"])
                update["updated_at"] = self.ctx.now()
                merged.update(update)
                event = self.ctx.event(AGENDA, SessionUpdated(**snapshot(merged)), session_id)
                stored = await self.repo.update_session(session_id, session["version"], update, [event])
            if stored:
                if "capacity" in update and update["capacity"] != session.get("capacity"):
                    await self.seats.set_capacity(session_id, update["capacity"])
                return await self.ctx.session_or_404(session_id)
        raise ProblemError(409, "The session kept changing while you edited it; reload it and try again.")

    async def cancel_session(self, session_id: str) -> Doc:
        for _ in range(20):
            session = await self.ctx.session_or_404(session_id)
            if session["status"] == CANCELLED:
                return session
            now = self.ctx.now()
            events = [self.ctx.event(AGENDA, SessionCancelled(session_id=session_id, cancelled_at=now), session_id)]
            changes = {"status": CANCELLED, "cancelled_at": now, "updated_at": now}
            if await self.repo.update_session(session_id, session["version"], changes, events):
                return await self.ctx.session_or_404(session_id)
        raise ProblemError(409, "The session kept changing; try again.")

    async def set_status(self, principal: Principal, session_id: str, wanted: str) -> Doc:
        """Moderators and organisers move a session live or end it (the clock does the same on time)."""
        for _ in range(20):
            session = await self.ctx.session_or_404(session_id)
            require_moderator(await self.ctx.access(principal, session))
            current = effective_status(session, self.ctx.now(), self.ctx.overrun)
            check_transition(current, wanted)
            if session["status"] == wanted:
                return session
            if await self.change_status(session, wanted, manual=True):
                return await self.ctx.session_or_404(session_id)
        raise ProblemError(409, "The session kept changing; try again.")

    async def change_status(self, session: Doc, wanted: str, *, manual: bool) -> bool:
        now = self.ctx.now()
        changes: Doc = {"status": wanted, "status_manual": manual, "updated_at": now}
        if wanted == LIVE:
            changes["live_at"] = now
        if wanted == ENDED:
            changes["ended_at"] = now
        event = self.ctx.event(AGENDA, SessionUpdated(**snapshot({**session, **changes})), session["_id"])
        done = await self.repo.update_session(session["_id"], session["version"], changes, [event])
        return done

    async def set_recording(self, principal: Principal, session_id: str, url: str) -> Doc:
        check_session_fields({"recording_url": url})
        for _ in range(20):
            session = await self.ctx.session_or_404(session_id)
            require_moderator(await self.ctx.access(principal, session))
            if effective_status(session, self.ctx.now(), self.ctx.overrun) != ENDED:
                raise ProblemError(409, "A recording can be added once the session has ended.")
            now = self.ctx.now()
            event = self.ctx.event(AGENDA, RecordingPublished(session_id=session_id, recording_url=url,
                                                              published_at=now), session_id)
            changes = {"recording_url": url, "recording_published_at": now, "updated_at": now}
            if await self.repo.update_session(session_id, session["version"], changes, [event]):
                return await self.ctx.session_or_404(session_id)
        raise ProblemError(409, "The session kept changing; try again.")

    async def set_premoderation(self, principal: Principal, session_id: str, premoderation: bool) -> Doc:
        for _ in range(20):
            session = await self.ctx.session_or_404(session_id)
            require_moderator(await self.ctx.access(principal, session))
            if bool(session.get("premoderation")) == premoderation:
                return session
            if await self.repo.update_session(session_id, session["version"],
                                              {"premoderation": premoderation, "updated_at": self.ctx.now()}, []):
                return await self.ctx.session_or_404(session_id)
        raise ProblemError(409, "The session kept changing; try again.")

    async def _check_panel(self, session_id: str | None, starts: Any, ends: Any, speaker_ids: list[str],
                           moderator_ids: list[str]) -> None:
        people = list(dict.fromkeys([*speaker_ids, *moderator_ids]))
        found = await self.repo.speakers_by_ids(people)
        unknown = [p for p in people if p not in found or found[p].get("removed")]
        if unknown:
            raise ProblemError(422, f"Unknown speaker id(s): {', '.join(unknown)}; add the speakers first.",
                               unknown=unknown)
        others = await self.repo.sessions_of_people(people)
        names = {pid: f"{doc['name']} ({pid})" for pid, doc in found.items()}
        clash = speaker_clash(session_id, starts, ends, people, others, names)
        if clash:
            raise ProblemError(409, clash)

    # -- sessions: queries ------------------------------------------------------------------------------------------
    async def agenda_query(self, f: AgendaFilter, zone: tzinfo) -> Doc:
        query: Doc = {}
        now = self.ctx.now()
        if f.status == ENDED:  # what the clock would say now, even between two of its ticks
            query["$and"] = [{"$or": [{"status": ENDED},
                                      {"status": {"$in": [SCHEDULED, LIVE]}, "ends_at": {"$lte": now}}]}]
        elif f.status == LIVE:
            query["$and"] = [{"$or": [{"status": LIVE, "ends_at": {"$gt": now}},
                                      {"status": SCHEDULED, "starts_at": {"$lte": now}, "ends_at": {"$gt": now}}]}]
        elif f.status == SCHEDULED:
            query.update({"status": SCHEDULED, "starts_at": {"$gt": now}})
        elif f.status:
            query["status"] = f.status
        elif not f.include_cancelled:
            query["status"] = {"$ne": CANCELLED}
        if f.day:
            start, end = day_window(f.day, zone)
            query["starts_at"] = {"$gte": start, "$lt": end}
        if f.track:
            query["track"] = f.track
        if f.type:
            query["type"] = f.type
        if f.action_line:
            query["tags.action_lines"] = f.action_line.upper()
        if f.sdg is not None:
            query["tags.sdgs"] = f.sdg
        if f.covid19 is not None:
            query["tags.covid19"] = f.covid19
        if f.language:
            query["language"] = f.language
        if f.speaker:
            query.setdefault("$and", []).append({"$or": [{"speaker_ids": f.speaker}, {"moderator_ids": f.speaker}]})
        if f.q and f.q.strip():
            text = re.escape(f.q.strip())
            matching = await self.repo.speaker_ids_matching(f.q.strip())
            ors: list[Doc] = [{name: {"$regex": text, "$options": "i"}} for name in ("title", "description", "track")]
            if matching:
                ors.append({"speaker_ids": {"$in": matching}})
            query.setdefault("$and", []).append({"$or": ors})
        return query

    async def present(self, sessions: list[Doc], principal: Principal | None, zone: tzinfo,
                      *, detail: bool = False) -> list[Doc]:
        speaker_ids = [p for s in sessions for p in [*s.get("speaker_ids", []), *s.get("moderator_ids", [])]]
        speakers = await self.repo.speakers_by_ids(speaker_ids)
        now = self.ctx.now()
        out = []
        for session in sessions:
            status = effective_status(session, now, self.ctx.overrun)
            view = session_view(session, speakers, zone, status)
            if detail:
                access = await self.ctx.access(principal, session)
                view["you"] = {"moderator": access.moderator, "allowed_in": access.allowed_in,
                               "reason": access.reason or None}
                view["seats"] = None
                if access.allowed_in and stream_window_open(session, status, now, self.ctx.lead):
                    view["stream_url"] = session.get("stream_url")
                if not session.get("closed") or access.allowed_in:
                    view["recording_url"] = session.get("recording_url") if status == ENDED else None
                else:
                    view["recording_url"] = None
            elif session.get("closed"):
                view["recording_url"] = None
            out.append(view)
        return out

    # -- speakers ---------------------------------------------------------------------------------------------------
    async def create_speaker(self, fields: dict[str, Any]) -> Doc:
        fields = self._check_speaker(dict(fields))
        key = fields.pop("key", None)
        if key and (existing := await self.repo.get_speaker(new_id("spk", key))):
            raise ProblemError(409, f"A speaker with key {key!r} exists already ({existing['_id']}).",
                               speaker_id=existing["_id"])
        now = self.ctx.now()
        doc: Doc = {"_id": new_id("spk", key), "attendee_id": None, "email": None, **fields, "removed": False,
                    "created_at": now, "updated_at": now}
        if key:
            doc["key"] = key
        if doc.get("email") and not doc.get("attendee_id"):
            person = await self.repo.people.find_one({"email": doc["email"]})
            if person:
                doc["attendee_id"] = person["_id"]
        doc["_outbox"] = [self.ctx.event(AGENDA, SpeakerPublished(**speaker_snapshot(doc)), doc["_id"])]
        try:
            await self.repo.insert_speaker(doc)
        except DuplicateKeyError as exc:
            existing = await self.repo.get_speaker_by_key(key) if key else None
            raise ProblemError(409, f"A speaker with key {key!r} exists already.",
                               speaker_id=existing["_id"] if existing else None) from exc
        doc.pop("_outbox")
        return doc

    async def edit_speaker(self, speaker_id: str, changes: dict[str, Any]) -> Doc:
        speaker = await self.speaker_or_404(speaker_id)
        changes = self._check_speaker(changes)
        merged = {**speaker, **changes, "updated_at": self.ctx.now()}
        event = self.ctx.event(AGENDA, SpeakerPublished(**speaker_snapshot(merged)), speaker_id)
        updated = await self.repo.update_speaker(speaker_id, {**changes, "updated_at": merged["updated_at"]}, [event])
        assert updated is not None
        return updated

    async def remove_speaker(self, speaker_id: str) -> None:
        async with self.repo.panel_locks.hold([speaker_id]):  # nobody books them while they are being removed
            speaker = await self.speaker_or_404(speaker_id)
            booked = [s for s in await self.repo.sessions_of_people([speaker_id]) if s["status"] != CANCELLED]
            if booked:
                raise ProblemError(409, f"{speaker['name']} is still on the panel of '{booked[0]['title']}'; take "
                                        "them off the sessions first.", session_ids=[s["_id"] for s in booked])
            event = self.ctx.event(AGENDA, SpeakerRemoved(speaker_id=speaker_id), speaker_id)
            await self.repo.update_speaker(speaker_id, {"removed": True, "updated_at": self.ctx.now()}, [event])

    async def speaker_or_404(self, speaker_id: str) -> Doc:
        speaker = await self.repo.get_speaker(speaker_id)
        if speaker is None or speaker.get("removed"):
            raise ProblemError(404, f"There is no speaker {speaker_id!r}.")
        return speaker

    @staticmethod
    def _check_speaker(fields: dict[str, Any]) -> dict[str, Any]:
        if fields.get("country") and not is_country(fields["country"]):
            raise ProblemError(422, f"'country': {fields['country']!r} is not an ISO 3166 country code.")
        if fields.get("email"):
            fields["email"] = str(fields["email"]).strip().lower()
        return fields

    # -- registration's attendee events ------------------------------------------------------------------------------
    async def on_attendee_event(self, event: DecodedEvent) -> None:
        data = event.data
        if isinstance(data, AttendeeRegistered | AttendeeUpdated):
            email = data.email.strip().lower()
            await self.repo.upsert_person(data.attendee_id, {"name": data.name, "email": email,
                                                             "timezone": data.timezone})
            for speaker in await self.repo.speakers_to_link(email):
                merged = {**speaker, "attendee_id": data.attendee_id}
                published = self.ctx.event(AGENDA, SpeakerPublished(**speaker_snapshot(merged)), speaker["_id"])
                await self.repo.update_speaker(speaker["_id"], {"attendee_id": data.attendee_id}, [published])
        elif isinstance(data, AttendeeCancelled):
            await self.seats.withdraw_everywhere(data.attendee_id)
        elif isinstance(data, AttendeeErased):
            await self.erase(data.attendee_id)

    async def erase(self, attendee_id: str) -> None:
        """Remove the person's personal data; counts stay. Every step is idempotent (a redelivery is harmless)."""
        await self.seats.withdraw_everywhere(attendee_id)
        await self.repo.mark_enrolments_erased(attendee_id)
        await self.repo.delete_invitations_of_person(attendee_id)
        await self.repo.anonymise_questions(attendee_id)
        await self.repo.pseudonymise_attendance(attendee_id)
        await self.repo.delete_feed(attendee_id)
        for speaker in await self.repo.speakers_linked_to(attendee_id):
            merged = {**speaker, "attendee_id": None}
            published = self.ctx.event(AGENDA, SpeakerPublished(**speaker_snapshot(merged)), speaker["_id"])
            await self.repo.update_speaker(speaker["_id"], {"attendee_id": None, "email": None}, [published])
        await self.repo.delete_person(attendee_id)
