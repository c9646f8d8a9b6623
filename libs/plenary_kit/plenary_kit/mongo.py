"""MongoDB access through PyMongo's AsyncMongoClient (motor's official successor).

Services keep every database call behind their repository; this module opens the client and holds the small
idioms they share. Everything here relies on MongoDB's single-document guarantees only (no transactions, no change
streams), which MongoDB 7 and FerretDB 2 on DocumentDB both give.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from plenary_kit.logging import get_logger

Document = dict[str, Any]
log = get_logger("plenary.mongo")


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


class IndexSetup:
    """A lifespan component that creates a service's indexes at start; while the database is not up yet it keeps
    trying in the background, and `ready` stays False (readiness reports `mongo` down until they exist)."""

    def __init__(self, creators: list[Callable[[], Awaitable[Any]]], *, name: str = "indexes",
                 retry_seconds: float = 2.0) -> None:
        self._creators = creators
        self._name = name
        self._retry = retry_seconds
        self._task: asyncio.Task[None] | None = None
        self.ready = False

    async def _ensure(self) -> bool:
        try:
            for create in self._creators:
                await create()
        except Exception as exc:
            log.warning("indexes_not_created", error=str(exc)[:300])
            return False
        self.ready = True
        return True

    async def _keep_trying(self) -> None:
        while not await self._ensure():
            await asyncio.sleep(self._retry)

    async def start(self) -> None:
        if not await self._ensure():
            self._task = asyncio.create_task(self._keep_trying(), name=self._name)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
