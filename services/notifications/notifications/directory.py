"""The service's own projections of other services' data, built from their events (it reads no other database).

- attendees (from `registration.attendees`): id, name, email, roles, region, stakeholder type, exhibitor, time
  zone and status. An erased person keeps only a tombstone (id, status, time): no personal data.
- sessions (from `sessions.agenda` and `sessions.enrolments`): title, times, status, and `enrolled`, the people
  with a seat (whose schedule holds the session).
- questions (from `sessions.qa`): who asked which question, to tell them when it is answered (not for anonymous
  questions: their events carry no author).

Projection documents record the time of the last event applied (`as_of`) and the ids of the events applied
(`_applied`): a redelivered or an older event changes nothing. A person's first event (registered) is an insert,
the cheap write everywhere; later ones update.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import pymongo
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from notifications.domain import Recipient, SegmentRule

Doc = dict[str, Any]
ACTIVE, CANCELLED, ERASED = "active", "cancelled", "erased"
APPLIED_KEEP = 50  # event ids remembered per document
BY_ID_AT_ONCE = 1000  # people looked up in one `_id: {$in}` query
SEGMENT_READ_SECONDS = 120.0  # one read of a whole segment (15,000 people) may take longer than a usual query
PERSON_FIELDS = {"name": 1, "email": 1, "timezone": 1, "roles": 1, "region": 1, "stakeholder_type": 1,
                 "status": 1, "exhibitor_id": 1}


def _recipient(doc: Doc) -> Recipient:
    return Recipient(attendee_id=doc["_id"], name=doc.get("name") or "", email=doc.get("email"),
                     timezone=doc.get("timezone"))


class Directory:
    def __init__(self, attendees: Any, sessions: Any, questions: Any) -> None:
        self.attendees = attendees
        self.sessions = sessions
        self.questions = questions

    async def ensure_indexes(self) -> None:
        await self.attendees.create_index([("status", ASCENDING), ("region", ASCENDING)])
        await self.attendees.create_index([("exhibitor_id", ASCENDING)])
        await self.sessions.create_index([("enrolled", ASCENDING)])
        await self.questions.create_index([("author_id", ASCENDING)])

    # -- applying events -------------------------------------------------------------------------------------
    async def _apply(self, collection: Any, doc_id: str, event_id: str, at: datetime, fields: Doc,
                     *, unless_erased: bool = False) -> bool:
        """Set `fields` on the document unless this event (or a newer one) was applied already."""
        query: Doc = {"_id": doc_id, "_applied": {"$ne": event_id},
                      "$or": [{"as_of": {"$lte": at}}, {"as_of": {"$exists": False}}]}
        if unless_erased:
            query["status"] = {"$ne": ERASED}
        update = {"$set": {**fields, "as_of": at}, "$push": {"_applied": event_id}}
        try:
            result = await collection.update_one(query, update, upsert=True)
        except DuplicateKeyError:
            return False  # the document exists and the event is applied, or it is newer, or erased
        applied = bool(result.modified_count or result.upserted_id is not None)
        if applied:
            await self._trim_applied(collection, doc_id)
        return applied

    async def _trim_applied(self, collection: Any, doc_id: str) -> None:
        doc = await collection.find_one({"_id": doc_id}, {"_applied": 1})
        applied = (doc or {}).get("_applied") or []
        if len(applied) > APPLIED_KEEP:
            await collection.update_one({"_id": doc_id}, {"$pullAll": {"_applied": applied[:-APPLIED_KEEP]}})

    async def put_attendee(self, event_id: str, at: datetime, snapshot: Doc) -> bool:
        fields = {
            "name": snapshot["name"],
            "email": snapshot["email"],
            "roles": list(snapshot.get("roles") or []),
            "region": snapshot.get("region"),
            "stakeholder_type": snapshot.get("stakeholder_type"),
            "exhibitor_id": snapshot.get("exhibitor_id"),
            "timezone": snapshot.get("timezone"),
            "status": ACTIVE,
        }
        attendee_id = snapshot["attendee_id"]
        try:  # the usual case, a person the service has not seen: one insert
            await self.attendees.insert_one({"_id": attendee_id, **fields, "as_of": at, "_applied": [event_id]})
            return True
        except DuplicateKeyError:
            return await self._apply(self.attendees, attendee_id, event_id, at, fields, unless_erased=True)

    async def cancel_attendee(self, event_id: str, at: datetime, attendee_id: str) -> bool:
        return await self._apply(self.attendees, attendee_id, event_id, at, {"status": CANCELLED},
                                 unless_erased=True)

    async def erase_attendee(self, attendee_id: str, at: datetime) -> None:
        """Replace the person with a tombstone (no personal data) and forget their seats and questions."""
        await self.attendees.replace_one({"_id": attendee_id}, {"_id": attendee_id, "status": ERASED,
                                                                "as_of": at, "erased_at": at}, upsert=True)
        await self.sessions.update_many({"enrolled": attendee_id}, {"$pull": {"enrolled": attendee_id}})
        await self.questions.delete_many({"author_id": attendee_id})

    async def put_session(self, event_id: str, at: datetime, snapshot: Doc) -> bool:
        fields = {k: snapshot.get(k) for k in ("title", "starts_at", "ends_at", "status", "type", "track")}
        return await self._apply(self.sessions, snapshot["session_id"], event_id, at, fields)

    async def cancel_session(self, event_id: str, at: datetime, session_id: str) -> bool:
        return await self._apply(self.sessions, session_id, event_id, at, {"status": "cancelled"})

    async def enrol(self, session_id: str, attendee_id: str) -> None:
        await self.sessions.update_one({"_id": session_id}, {"$addToSet": {"enrolled": attendee_id}}, upsert=True)

    async def unenrol(self, session_id: str, attendee_id: str) -> None:
        await self.sessions.update_one({"_id": session_id}, {"$pull": {"enrolled": attendee_id}})

    async def put_question(self, question_id: str, session_id: str, author_id: str | None) -> None:
        if not author_id:
            return
        author = await self.attendees.find_one({"_id": author_id}, {"status": 1})
        if author is not None and author.get("status") == ERASED:
            return
        try:
            await self.questions.insert_one({"_id": question_id, "session_id": session_id, "author_id": author_id})
        except DuplicateKeyError:
            pass  # known already (an approval repeats the question)

    # -- reading ---------------------------------------------------------------------------------------------
    async def attendee(self, attendee_id: str) -> Doc | None:
        doc = await self.attendees.find_one({"_id": attendee_id}, {"_applied": 0})
        return dict(doc) if doc else None

    async def session(self, session_id: str) -> Doc | None:
        """The session as templates see it (title, times, status, type, track), without its enrolments."""
        doc = await self.sessions.find_one({"_id": session_id}, {"_applied": 0, "enrolled": 0})
        return dict(doc) if doc else None

    async def recipients(self, attendee_ids: Sequence[str]) -> list[Recipient]:
        """The active people among these ids, in the order given (unknown, cancelled and erased people are out)."""
        wanted = list(dict.fromkeys(attendee_ids))
        docs: dict[str, Doc] = {}
        for start in range(0, len(wanted), BY_ID_AT_ONCE):
            chunk = wanted[start:start + BY_ID_AT_ONCE]
            docs.update({d["_id"]: d async for d in self.attendees.find({"_id": {"$in": chunk}}, PERSON_FIELDS)})
        return [_recipient(docs[a]) for a in dict.fromkeys(attendee_ids)
                if a in docs and docs[a].get("status") == ACTIVE]

    async def enrolled(self, session_id: str) -> list[str]:
        session = await self.sessions.find_one({"_id": session_id}, {"enrolled": 1})
        return list((session or {}).get("enrolled") or [])

    async def question_author(self, question_id: str) -> str | None:
        doc = await self.questions.find_one({"_id": question_id})
        return doc.get("author_id") if doc else None

    async def exhibitor_staff(self, exhibitor_id: str) -> list[str]:
        docs = await self.attendees.find({"exhibitor_id": exhibitor_id, "status": ACTIVE},
                                         {"roles": 1}).to_list(None)
        return [d["_id"] for d in docs if "exhibitor-staff" in (d.get("roles") or [])]

    async def segment(self, rule: SegmentRule, *, after: str | None = None,
                      batch_size: int = 1000) -> AsyncIterator[tuple[str, list[Recipient]]]:
        """The active people in the segment, in pages ordered by id, starting after id `after`: yields (the last id
        of the page, its people), so a caller can record how far it got and resume there after a crash.

        One read of the projection (filtered by region and stakeholder type in the query, by role and session
        here), then pages from memory: a 15,000-person segment is a few megabytes."""
        query: Doc = {"status": ACTIVE}
        if rule.regions:
            query["region"] = {"$in": sorted(rule.regions)}
        if rule.stakeholder_types:
            query["stakeholder_type"] = {"$in": sorted(rule.stakeholder_types)}
        sessions_of: dict[str, set[str]] = {}
        if rule.session_ids:
            for session_id in rule.session_ids:
                for attendee_id in await self.enrolled(session_id):
                    sessions_of.setdefault(attendee_id, set()).add(session_id)
            if not sessions_of:
                return
        if after is not None:
            query["_id"] = {"$gt": after}
        with pymongo.timeout(SEGMENT_READ_SECONDS):  # a whole segment in one read: more than a usual query's time
            docs = await self.attendees.find(query, PERSON_FIELDS).sort("_id", ASCENDING).to_list(None)
        for start in range(0, len(docs), batch_size):
            page = docs[start:start + batch_size]
            chosen = [_recipient(d) for d in page if rule.matches(d, sessions_of.get(d["_id"], ()))]
            yield page[-1]["_id"], chosen
