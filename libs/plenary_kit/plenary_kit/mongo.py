"""MongoDB access through PyMongo's AsyncMongoClient (motor's official successor).

Services keep every database call behind their repository; this module opens the client and holds the small
idioms that stay within what both MongoDB 7 and FerretDB 1.24 support (no transactions, no change streams).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]


def open_client(uri: str, *, timeout_ms: int = 3000) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(
        uri,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        timeoutMS=max(timeout_ms * 3, 10000),
        uuidRepresentation="standard",
    )


async def ping(db: AsyncDatabase[Document], timeout: float = 2.0) -> bool:
    try:
        await asyncio.wait_for(db.command("ping"), timeout)
        return True
    except Exception:
        return False


async def apply_once(
    collection: AsyncCollection[Document],
    doc_id: Any,
    event_id: str,
    update: dict[str, Any],
    *,
    upsert: bool = True,
) -> bool:
    """Apply `update` to one document unless the event was applied to it already.

    The event id is recorded in the same single-document atomic update (`_applied`), so a redelivered event
    changes nothing. Returns True when the update was applied now. Suits documents that see few events each
    (a person's projection, a session); counters over many events belong in per-item documents instead.
    """
    update = {k: dict(v) for k, v in update.items()}
    update.setdefault("$addToSet", {})["_applied"] = event_id
    try:
        result = await collection.update_one({"_id": doc_id, "_applied": {"$ne": event_id}}, update,
                                             upsert=upsert)
    except DuplicateKeyError:
        # the document exists and already holds event_id: the upsert tried to insert a second copy
        return False
    return bool(result.modified_count or result.upserted_id is not None)
