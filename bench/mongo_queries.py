"""What one query shape costs on the local Mongo-wire server (FerretDB 1.24 on SQLite), by collection size.

The request paths are built around what this prints: a lookup by `_id` alone against the shapes FerretDB answers by
reading the whole collection (`_id` plus another condition, another field, `_id: {$in: ...}`), and a guarded
write sent as it is against the same write through the kit's `guards` (read by `_id`, check, write by `_id`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from plenary_kit import guards
from plenary_kit.doclocks import KeyedLocks, SerialisedCollection
from plenary_kit.mongo import open_client

from bench.common import figure, header

NAME = "mongo"
ORDER = 15
SIZES = (1_000, 5_000)
ROUNDS = 20


async def _time(rounds: int, call: Callable[[int], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    for k in range(rounds):
        await call(k)
    return (time.perf_counter() - started) / rounds * 1000


async def _one_size(db: Any, kind: guards.ServerKind, server: str, size: int) -> None:
    raw = db[f"things_{size}"]
    docs = [{"_id": f"id-{i:06d}", "status": "registered", "version": 1, "email_lc": f"p{i}@example.org",
             "profile": "x" * 900} for i in range(size)]
    for start in range(0, size, 50):
        await raw.insert_many(docs[start:start + 50])
    guarded = SerialisedCollection(raw, KeyedLocks(), kind)

    def last(k: int) -> str:  # documents near the end: a scan cannot stop early
        return f"id-{size - 1 - k:06d}"

    header(f"{server}: one query or write, {size:,} documents in the collection (mean of {ROUNDS})")
    shapes: list[tuple[str, Callable[[int], Awaitable[Any]]]] = [
        ("find_one({_id})", lambda k: raw.find_one({"_id": last(k)})),
        ("find_one({_id, status})", lambda k: raw.find_one({"_id": last(k), "status": "registered"})),
        ("find_one({email_lc})", lambda k: raw.find_one({"email_lc": f"p{size - 1 - k}@example.org"})),
        ("find({_id: {$in: [one id]}})", lambda k: raw.find({"_id": {"$in": [last(k)]}}).to_list(None)),
        ("update_one({_id, version}) as sent",
         lambda k: raw.update_one({"_id": last(k), "version": 1}, {"$set": {"seen": k}})),
        ("update_one({_id, version}) through kit guards",
         lambda k: guarded.update_one({"_id": last(k), "version": 1}, {"$set": {"seen": k}})),
    ]
    for label, call in shapes:
        figure(label, f"{await _time(ROUNDS, call):,.1f}", "ms")


async def run(infra: Any) -> None:
    """Each shape against collections of 1,000 and 5,000 attendee-sized documents (~1 KB)."""
    client = open_client(infra.mongodb_uri)
    db = client[f"bench_mongo_{uuid.uuid4().hex[:8]}"]
    try:
        kind = guards.ServerKind(db)
        server = "FerretDB" if await kind.is_ferretdb() else "MongoDB"
        for size in SIZES:
            await _one_size(db, kind, server, size)
    finally:
        await client.drop_database(db.name)
        await client.close()
