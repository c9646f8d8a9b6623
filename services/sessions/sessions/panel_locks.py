"""Booking locks: one person's sessions change one booking at a time.

Refusing a speaker who is booked elsewhere at the same time is check-then-write (read the person's other sessions,
then write this one), and two organisers doing it at the same instant would both pass the check. So every write
that books people (a new session, a changed panel or time) and every removal of a speaker holds the booking lock of
each person concerned, from the check until the write is stored.

The lock is a lease document per person in `panel_locks` (`{_id: <person>, owner, expires_at}`), taken with an
insert, which the unique `_id` makes atomic on the server, and given back with a delete guarded by the owner. It is
the same lock for every task of every replica: there is no in-process lock in front of it (it would order only this
process's requests, and booking changes are organiser edits, rarely concurrent, so waiting by polling costs little).
A lease left behind by a crashed process is taken over once it has expired (deleted with its owner in the filter,
so a lease taken meanwhile by someone else stays).

Locks are taken in sorted order, so two panels that share people cannot deadlock.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from plenary_kit.problems import ProblemError
from pymongo.errors import DuplicateKeyError


class PanelLocks:
    def __init__(self, collection: Any, *, lease_seconds: float = 30.0, wait_seconds: float = 10.0) -> None:
        self.collection = collection
        self.lease = timedelta(seconds=lease_seconds)
        self.wait_seconds = wait_seconds

    @asynccontextmanager
    async def hold(self, people: Iterable[str]) -> AsyncIterator[None]:
        """Hold the booking lock of every person named (none: nothing to hold)."""
        async with AsyncExitStack() as stack:
            for person in sorted(set(people)):
                await stack.enter_async_context(self._lease(person))
            yield

    @asynccontextmanager
    async def _lease(self, person: str) -> AsyncIterator[None]:
        owner = uuid.uuid4().hex
        await self._acquire(person, owner)
        try:
            yield
        finally:
            await self.collection.delete_one({"_id": person, "owner": owner})

    async def _acquire(self, person: str, owner: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        pause = 0.01
        while True:
            now = datetime.now(UTC)
            try:
                await self.collection.insert_one({"_id": person, "owner": owner, "expires_at": now + self.lease})
                return
            except DuplicateKeyError:
                pass
            held = await self.collection.find_one({"_id": person})
            if held is not None and _as_utc(held["expires_at"]) <= now:  # its process died holding it
                await self.collection.delete_one({"_id": person, "owner": held["owner"]})
                continue
            if loop.time() >= deadline:
                raise ProblemError(503, "Another change to this speaker's sessions is being saved; try again in a "
                                        "moment.", headers={"Retry-After": "1"})
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.2)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
