"""Every database call of the exhibition service.

The same class runs over the real AsyncMongoClient (MongoDB 7, or FerretDB 2 on DocumentDB) and over
`plenary_kit.testing.memory.memory_database()` in unit tests; the contract suite in tests/unit/exhibition and
tests/integration/exhibition runs against both. Only single-document atomic operations are used. A write that
causes events carries them in the same document (`_outbox`); a removal leaves a tombstone (`removed_at` or
`revoked_at`) that keeps the events until the relay has published them, then `purge` deletes it.

Every query is served by `_id` or by one of the indexes `ensure_indexes` creates.

Collections:
- exhibitors: see exhibition.domain.
- assets: a booth's files (materials and logos): exhibitor_id, kind, title, filename, content_type, size, sha256,
  chunk_size, chunks, status (uploading | ready | removed), created_at, created_by.
- asset_chunks: the bytes, `_id` = "<asset id>:<n>", in chunks of CHUNK_SIZE (GridFS's default size; the
  service keeps its own chunk documents rather than depend on a server's GridFS support).
- visits: one per counted visit (exhibitor_id, visitor pseudonym, slot, at), unique per (exhibitor, visitor, slot):
  repeated visits within one slot (the visit window) count once. Total visits = documents.
- downloads: one per download (asset_id, exhibitor_id, visitor pseudonym, at). Total downloads = documents.
- first_visits: a marker per (kind, target, visitor), unique: a visitor's first visit of a booth (kind visitor,
  target exhibitor) or first download of a material (kind downloader, target material). Distinct = markers.
- leads: one per (exhibitor, attendee), `_id` = "<exhibitor>:<attendee>": shared_at; revoked_at on a tombstone.
- contacts: the projection of registration events: name, email, organisation of people who allow exhibitor
  contact (opted_in), `at` (the event time, so an older event never overwrites a newer one); `erased` tombstones.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from plenary_kit import outbox as kit_outbox
from plenary_kit.envelope import Envelope
from plenary_kit.outbox import OUTBOX, outbox_entries, outbox_push
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]
Events = list[tuple[str, Envelope]]
CHUNK_SIZE = 255 * 1024
PUBLISHED: str = getattr(kit_outbox, "PUBLISHED", "outbox_published")
_HIDDEN = {OUTBOX: 0}
_INSERT_BATCH_BYTES = 4 * 1024 * 1024


class KeyTaken(Exception):
    """Another exhibitor already has this key."""


def _update(set_: Document | None = None, unset: list[str] | None = None, events: Events | None = None,
            inc: Document | None = None) -> Document:
    update: Document = {}
    if set_:
        update["$set"] = set_
    if unset:
        update["$unset"] = dict.fromkeys(unset, "")
    if inc:
        update["$inc"] = inc
    if events:
        update["$push"] = outbox_push(events)
    return update


def chunk_id(asset_id: str, n: int) -> str:
    return f"{asset_id}:{n:06d}"


class ExhibitionRepository:
    def __init__(self, db: Any) -> None:
        self.exhibitors = db["exhibitors"]
        self.assets = db["assets"]
        self.chunks = db["asset_chunks"]
        self.visits = db["visits"]
        self.downloads = db["downloads"]
        self.uniques = db["first_visits"]
        self.leads = db["leads"]
        self.contacts = db["contacts"]
        self.published = db[PUBLISHED]  # the outbox relay's record of published event ids

    @property
    def outbox_collections(self) -> list[Any]:
        return [self.exhibitors, self.assets, self.visits, self.downloads, self.leads]

    async def ensure_indexes(self) -> None:
        await self.exhibitors.create_index([("key", ASCENDING)], unique=True, name="key_unique")
        await self.assets.create_index([("exhibitor_id", ASCENDING), ("kind", ASCENDING)], name="exhibitor_kind")
        await self.chunks.create_index([("asset_id", ASCENDING), ("n", ASCENDING)], name="asset_n")
        await self.visits.create_index([("exhibitor_id", ASCENDING), ("visitor", ASCENDING), ("slot", ASCENDING)],
                                       unique=True, name="exhibitor_visitor_slot_unique")
        await self.downloads.create_index([("exhibitor_id", ASCENDING), ("asset_id", ASCENDING)], name="exhibitor")
        await self.uniques.create_index([("kind", ASCENDING), ("target", ASCENDING), ("visitor", ASCENDING)],
                                        unique=True, name="kind_target_visitor_unique")
        await self.uniques.create_index([("exhibitor_id", ASCENDING)], name="exhibitor")
        for collection in (self.visits, self.downloads, self.uniques):
            await collection.create_index([("visitor", ASCENDING)], name="visitor")
        await self.leads.create_index([("exhibitor_id", ASCENDING), ("shared_at", DESCENDING)], name="exhibitor")
        await self.leads.create_index([("attendee_id", ASCENDING)], name="attendee")

    # -- exhibitors ----------------------------------------------------------------------------------------
    async def insert_exhibitor(self, doc: Document, events: Events) -> None:
        """KeyTaken when another exhibitor has the key (or the id: ids are generated, so only a key clash)."""
        try:
            await self.exhibitors.insert_one({**doc, OUTBOX: outbox_entries(events)})
        except DuplicateKeyError:
            raise KeyTaken(doc["key"]) from None

    async def exhibitor(self, exhibitor_id: str) -> Document | None:
        doc: Document | None = await self.exhibitors.find_one({"_id": exhibitor_id}, _HIDDEN)
        return doc if doc is not None and "removed_at" not in doc else None

    async def exhibitor_by_key(self, key: str) -> Document | None:
        return await self.exhibitors.find_one({"key": key, "removed_at": {"$exists": False}}, _HIDDEN)

    async def update_exhibitor(self, exhibitor_id: str, version: int, *, set_: Document | None = None,
                               unset: list[str] | None = None, events: Events | None = None) -> bool:
        """One atomic change if the exhibitor is still at `version` (optimistic concurrency); True when it was."""
        update = _update({**(set_ or {}), "version": version + 1}, unset, events)
        result = await self.exhibitors.update_one(
            {"_id": exhibitor_id, "version": version, "removed_at": {"$exists": False}}, update)
        return bool(result.matched_count)

    async def all_exhibitors(self) -> list[Document]:
        cursor = self.exhibitors.find({"removed_at": {"$exists": False}}, _HIDDEN).sort("_id", ASCENDING)
        docs: list[Document] = await cursor.to_list(None)
        return docs

    # -- assets --------------------------------------------------------------------------------------------
    async def store_asset(self, doc: Document, data: bytes) -> None:
        """Write the asset's chunks under an `uploading` asset document; `publish_asset` makes it visible. An upload
        that dies half-way stays `uploading` and is swept later."""
        await self.assets.insert_one({**doc, "status": "uploading", "chunk_size": CHUNK_SIZE,
                                      "chunks": (len(data) + CHUNK_SIZE - 1) // CHUNK_SIZE})
        batch: list[Document] = []
        size = 0
        for n, offset in enumerate(range(0, len(data), CHUNK_SIZE)):
            piece = data[offset:offset + CHUNK_SIZE]
            batch.append({"_id": chunk_id(doc["_id"], n), "asset_id": doc["_id"], "n": n, "data": piece})
            size += len(piece)
            if size >= _INSERT_BATCH_BYTES:
                await self.chunks.insert_many(batch, ordered=False)
                batch, size = [], 0
        if batch:
            await self.chunks.insert_many(batch, ordered=False)

    async def publish_asset(self, asset_id: str, events: Events) -> bool:
        """Make a stored upload visible (only the request that stored it knows its id)."""
        result = await self.assets.update_one({"_id": asset_id}, _update({"status": "ready"}, events=events))
        return bool(result.matched_count)

    async def asset(self, asset_id: str) -> Document | None:
        doc: Document | None = await self.assets.find_one({"_id": asset_id}, _HIDDEN)
        return doc if doc is not None and doc.get("status") == "ready" else None

    async def assets_of(self, exhibitor_id: str, kind: str = "material") -> list[Document]:
        cursor = self.assets.find({"exhibitor_id": exhibitor_id, "kind": kind, "status": "ready"},
                                  _HIDDEN).sort("created_at", ASCENDING)
        docs: list[Document] = await cursor.to_list(None)
        return docs

    async def count_assets(self, exhibitor_id: str, kind: str = "material") -> int:
        return int(await self.assets.count_documents({"exhibitor_id": exhibitor_id, "kind": kind,
                                                      "status": {"$in": ["ready", "uploading"]}}))

    async def material_counts(self) -> dict[str, int]:
        cursor = await self.assets.aggregate([
            {"$match": {"kind": "material", "status": "ready"}},
            {"$group": {"_id": "$exhibitor_id", "n": {"$sum": 1}}},
        ])
        return {doc["_id"]: int(doc["n"]) async for doc in cursor}

    async def rename_asset(self, asset_id: str, title: str, events: Events) -> bool:
        result = await self.assets.update_one({"_id": asset_id, "status": "ready"},
                                              _update({"title": title}, events=events))
        return bool(result.matched_count)

    async def remove_asset(self, asset_id: str, now: datetime, events: Events) -> bool:
        """Make the asset a tombstone holding its removal events; its chunks go at once."""
        doc = await self.assets.find_one({"_id": asset_id}, {"status": 1, "chunks": 1})
        if doc is None or doc.get("status") == "removed":
            return False
        result = await self.assets.update_one({"_id": asset_id, "status": {"$ne": "removed"}},
                                              _update({"status": "removed", "removed_at": now}, events=events))
        await self._delete_chunks(asset_id, int(doc.get("chunks") or 0))
        return bool(result.matched_count)

    async def _delete_chunks(self, asset_id: str, chunks: int) -> None:
        for n in range(chunks):
            await self.chunks.delete_one({"_id": chunk_id(asset_id, n)})

    async def read_chunks(self, asset_id: str, first: int, last: int) -> AsyncIterator[bytes]:
        """The bytes of chunks first..last (inclusive), each fetched by its id, a few ahead of the reader."""
        ahead = 4
        for low in range(first, last + 1, ahead):
            numbers = range(low, min(low + ahead, last + 1))
            docs = await asyncio.gather(*(self.chunks.find_one({"_id": chunk_id(asset_id, n)}) for n in numbers))
            for n, doc in zip(numbers, docs, strict=True):
                if doc is None:
                    raise RuntimeError(f"asset {asset_id} lacks its chunk {n}")
                yield bytes(doc["data"])

    # -- visits and downloads ------------------------------------------------------------------------------
    # Insert-only: every counted visit and every download is a document of its own (carrying its event), and a
    # visitor's first visit or download leaves a unique marker: a unique index decides a race, so a repeated
    # download racing with itself (in one replica or two) is counted once as a first download.
    async def _mark_first(self, kind: str, target: str, exhibitor_id: str, visitor: str, now: datetime) -> bool:
        try:
            await self.uniques.insert_one({"_id": uuid.uuid4().hex, "kind": kind, "target": target,
                                           "exhibitor_id": exhibitor_id, "visitor": visitor, "at": now})
            return True
        except DuplicateKeyError:
            return False

    async def record_visit(self, exhibitor_id: str, visitor: str, now: datetime, slot: str,
                           events: Events) -> str | None:
        """Count a visit unless this visitor was counted in this `slot` (a window of time) already; the id of the
        visit's document when it counted, else None."""
        doc_id = uuid.uuid4().hex
        try:
            await self.visits.insert_one({"_id": doc_id, "exhibitor_id": exhibitor_id, "visitor": visitor,
                                          "slot": slot, "at": now, OUTBOX: outbox_entries(events)})
        except DuplicateKeyError:
            return None
        await self._mark_first("visitor", exhibitor_id, exhibitor_id, visitor, now)
        return doc_id

    async def record_download(self, asset_id: str, exhibitor_id: str, visitor: str, now: datetime,
                              events: Events) -> tuple[str, bool]:
        """Count one download: (its document's id, whether it is this visitor's first of this material)."""
        doc_id = uuid.uuid4().hex
        await self.downloads.insert_one({"_id": doc_id, "asset_id": asset_id, "exhibitor_id": exhibitor_id,
                                         "visitor": visitor, "at": now, OUTBOX: outbox_entries(events)})
        return doc_id, await self._mark_first("downloader", asset_id, exhibitor_id, visitor, now)

    async def _count_by(self, collection: Any, match: Document, key: str) -> dict[str, int]:
        cursor = await collection.aggregate([{"$match": match}, {"$group": {"_id": f"${key}", "n": {"$sum": 1}}}])
        return {doc["_id"]: int(doc["n"]) async for doc in cursor}

    async def visit_totals(self, exhibitor_id: str) -> tuple[int, int]:
        """(visits, distinct visitors) of one booth."""
        visits = await self.visits.count_documents({"exhibitor_id": exhibitor_id})
        visitors = await self.uniques.count_documents({"kind": "visitor", "target": exhibitor_id})
        return int(visits), int(visitors)

    async def download_totals(self, exhibitor_id: str) -> dict[str, tuple[int, int]]:
        """material id -> (downloads, distinct downloaders) for one booth."""
        totals = await self._count_by(self.downloads, {"exhibitor_id": exhibitor_id}, "asset_id")
        distinct = await self._count_by(self.uniques, {"kind": "downloader", "exhibitor_id": exhibitor_id}, "target")
        return {asset: (totals.get(asset, 0), distinct.get(asset, 0)) for asset in {*totals, *distinct}}

    async def forget_visitor(self, visitor: str, replacement: str) -> int:
        """Erasure: visit and download records keep their counts under a pseudonym nobody can link back."""
        changed = 0
        for collection in (self.visits, self.downloads, self.uniques):
            result = await collection.update_many({"visitor": visitor}, {"$set": {"visitor": replacement}})
            changed += int(result.modified_count)
        return changed

    # -- leads ---------------------------------------------------------------------------------------------
    @staticmethod
    def lead_id(exhibitor_id: str, attendee_id: str) -> str:
        return f"{exhibitor_id}:{attendee_id}"

    async def share(self, exhibitor_id: str, attendee_id: str, now: datetime, events: Events) -> bool:
        """Record a share (the consent); True when it is new, False when it was already active."""
        lead_id = self.lead_id(exhibitor_id, attendee_id)
        existing = await self.leads.find_one({"_id": lead_id}, {"revoked_at": 1})
        if existing is not None:
            if "revoked_at" not in existing:
                return False
            result = await self.leads.update_one(  # a tombstone waiting for its events: share again on it
                {"_id": lead_id, "revoked_at": {"$exists": True}},
                _update({"shared_at": now}, ["revoked_at", "reason"], events))
            if result.matched_count:
                return True
        try:
            await self.leads.insert_one({"_id": lead_id, "exhibitor_id": exhibitor_id, "attendee_id": attendee_id,
                                         "shared_at": now, OUTBOX: outbox_entries(events)})
            return True
        except DuplicateKeyError:
            return False  # shared at the same moment by another request

    async def revoke(self, exhibitor_id: str, attendee_id: str, now: datetime, reason: str, events: Events) -> bool:
        if await self.lead(exhibitor_id, attendee_id) is None:
            return False
        result = await self.leads.update_one(
            {"_id": self.lead_id(exhibitor_id, attendee_id), "revoked_at": {"$exists": False}},
            _update({"revoked_at": now, "reason": reason}, events=events))
        return bool(result.matched_count)

    async def lead(self, exhibitor_id: str, attendee_id: str) -> Document | None:
        doc: Document | None = await self.leads.find_one({"_id": self.lead_id(exhibitor_id, attendee_id)}, _HIDDEN)
        return doc if doc is not None and "revoked_at" not in doc else None

    async def leads_of_attendee(self, attendee_id: str) -> list[Document]:
        cursor = self.leads.find({"attendee_id": attendee_id, "revoked_at": {"$exists": False}}, _HIDDEN)
        docs: list[Document] = await cursor.to_list(None)
        return docs

    async def leads_of_exhibitor(self, exhibitor_id: str, *, skip: int = 0, limit: int = 0) -> list[Document]:
        cursor = self.leads.find({"exhibitor_id": exhibitor_id, "revoked_at": {"$exists": False}},
                                 _HIDDEN).sort([("shared_at", DESCENDING), ("_id", ASCENDING)])
        if skip:
            cursor = cursor.skip(skip)
        if limit:
            cursor = cursor.limit(limit)
        docs: list[Document] = await cursor.to_list(None)
        return docs

    async def count_leads(self, exhibitor_id: str) -> int:
        return int(await self.leads.count_documents({"exhibitor_id": exhibitor_id,
                                                     "revoked_at": {"$exists": False}}))

    # -- the contacts projection ---------------------------------------------------------------------------
    async def put_contact(self, attendee_id: str, at: datetime, fields: Document | None) -> str | None:
        """Apply a registration event at time `at`: `fields` (name, email, organisation) for someone who allows
        exhibitor contact, None for someone who does not. What it did: "stored", "withdrawn" (the person had allowed
        contact and no longer does: their details are dropped), or None (nothing to do: an older event than the
        record, an erased person, or someone who never allowed contact, of whom nothing is kept).

        The consumer applies one person's events in order (they share a partition), so read-then-write is safe."""
        for _ in range(3):
            doc = await self.contacts.find_one({"_id": attendee_id})
            if doc is not None and (doc.get("erased") or doc["at"] > at):
                return None
            if fields is None:
                if doc is None or not doc.get("opted_in"):
                    return None
                await self.contacts.update_one({"_id": attendee_id}, {
                    "$set": {"opted_in": False, "at": at}, "$unset": {"name": "", "email": "", "organisation": ""}})
                return "withdrawn"
            if doc is not None:
                await self.contacts.update_one({"_id": attendee_id}, {"$set": {**fields, "opted_in": True, "at": at}})
                return "stored"
            try:
                await self.contacts.insert_one({"_id": attendee_id, **fields, "opted_in": True, "at": at})
                return "stored"
            except DuplicateKeyError:
                continue  # written meanwhile: read it again
        return None

    async def erase_contact(self, attendee_id: str, at: datetime) -> None:
        await self.contacts.update_one(
            {"_id": attendee_id},
            {"$set": {"erased": True, "opted_in": False, "at": at},
             "$unset": {"name": "", "email": "", "organisation": ""}},
            upsert=True)

    async def contact(self, attendee_id: str) -> Document | None:
        doc: Document | None = await self.contacts.find_one({"_id": attendee_id})
        return doc if doc is not None and doc.get("opted_in") else None

    async def contacts_of(self, attendee_ids: list[str]) -> dict[str, Document]:
        docs = await asyncio.gather(*(self.contact(attendee_id) for attendee_id in dict.fromkeys(attendee_ids)))
        return {doc["_id"]: doc for doc in docs if doc is not None}

    async def forget_author(self, attendee_id: str) -> None:
        """Erasure: uploads keep no trace of who made them."""
        await self.assets.update_many({"created_by": attendee_id}, {"$set": {"created_by": None}})

    # -- housekeeping --------------------------------------------------------------------------------------
    async def _events_out(self, doc: Document) -> bool:
        """Whether every event in the document's outbox has gone out: the relay pulled it from the document, or
        recorded its id as published."""
        for entry in doc.get(OUTBOX) or []:
            if await self.published.find_one({"_id": entry["id"]}, {"_id": 1}) is None:
                return False
        return True

    async def purge(self, abandoned_before: datetime) -> int:
        """Delete tombstones whose events went out, and uploads abandoned half-way (with their chunks)."""
        removed = 0
        for doc in await self.leads.find({"revoked_at": {"$exists": True}}, {OUTBOX: 1}).to_list(None):
            if await self._events_out(doc):
                await self.leads.delete_one({"_id": doc["_id"], "revoked_at": {"$exists": True}})
                removed += 1
        stale = await self.assets.find(
            {"$or": [{"status": "removed"}, {"status": "uploading", "created_at": {"$lt": abandoned_before}}]},
            {"_id": 1, "chunks": 1, "status": 1, OUTBOX: 1}).to_list(None)
        for doc in stale:
            if doc["status"] == "removed" and not await self._events_out(doc):
                continue
            await self._delete_chunks(doc["_id"], int(doc.get("chunks") or 0))
            await self.assets.delete_one({"_id": doc["_id"], "status": {"$in": ["removed", "uploading"]}})
            removed += 1
        for doc in await self.exhibitors.find({"removed_at": {"$exists": True}}, {OUTBOX: 1}).to_list(None):
            if await self._events_out(doc):
                await self.exhibitors.delete_one({"_id": doc["_id"]})
                removed += 1
        return removed

    async def remove_exhibitor_data(self, exhibitor_id: str) -> None:
        """After an exhibitor's removal: its files go, with any of their events not yet published (the exhibitor's
        removal supersedes them); visit and download records stay for the figures."""
        assets = await self.assets.find({"exhibitor_id": exhibitor_id}, {"_id": 1, "chunks": 1}).to_list(None)
        for doc in assets:
            await self._delete_chunks(doc["_id"], int(doc.get("chunks") or 0))
            await self.assets.delete_one({"_id": doc["_id"]})
