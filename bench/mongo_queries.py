"""What each query and write shape costs on the local Mongo-wire server, by collection size, through the driver alone.

The repositories rely on every request's query being served by an index: this prints, at growing collection sizes,
a lookup by `_id`, by `_id` plus a condition (a guarded write's filter), by an indexed field, `_id: {$in: [...]}`,
a conditional `update_one({_id, version})` and `insert_many`. A shape whose cost grows with the collection is
scanning it. The collection and its index are made here; no kit wrapper stands between the driver and the server.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from plenary_kit.mongo import open_client
from pymongo import ASCENDING

from bench.common import figure, header

NAME = "mongo"
ORDER = 15
SIZES = (1_000, 5_000)
ROUNDS = 20
IN_IDS = 20  # ids per `$in` query (a conversation's members, a page of recipients)
INSERT_BATCH = 100


async def _time(rounds: int, call: Callable[[int], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    for k in range(rounds):
        await call(k)
    return (time.perf_counter() - started) / rounds * 1000


def _doc(key: str) -> dict[str, Any]:
    """An attendee-sized document (~1 KB)."""
    return {"_id": key, "status": "registered", "version": 1, "email_lc": f"{key}@example.org", "profile": "x" * 900}


async def _one_size(db: Any, server: str, size: int) -> None:
    things = db[f"things_{size}"]
    await things.create_index([("email_lc", ASCENDING)], unique=True)
    started = time.perf_counter()
    for start in range(0, size, INSERT_BATCH):
        await things.insert_many([_doc(f"id-{i:06d}") for i in range(start, min(start + INSERT_BATCH, size))])
    loaded = time.perf_counter() - started

    def last(k: int) -> str:  # documents near the end: a scan cannot stop early
        return f"id-{size - 1 - k:06d}"

    header(f"{server}: one query or write, {size:,} documents in the collection (mean of {ROUNDS})")
    shapes: list[tuple[str, Callable[[int], Awaitable[Any]]]] = [
        ("find_one({_id})", lambda k: things.find_one({"_id": last(k)})),
        ("find_one({_id, status})", lambda k: things.find_one({"_id": last(k), "status": "registered"})),
        ("find_one({email_lc}) (unique index)", lambda k: things.find_one({"email_lc": f"{last(k)}@example.org"})),
        (f"find({{_id: {{$in: [{IN_IDS} ids]}}}})",
         lambda k: things.find({"_id": {"$in": [last(k * IN_IDS + j) for j in range(IN_IDS)]}}).to_list(None)),
        ("update_one({_id, version}) (conditional)",
         lambda k: things.update_one({"_id": last(k), "version": 1}, {"$set": {"seen": k}})),
        (f"insert_many({INSERT_BATCH} documents)",
         lambda k: things.insert_many([_doc(f"new-{k:03d}-{j:03d}") for j in range(INSERT_BATCH)])),
    ]
    for label, call in shapes:
        figure(label, f"{await _time(ROUNDS, call):,.2f}", "ms")
    figure("loading the collection", f"{size / loaded:,.0f}", "documents/s")


async def run(infra: Any) -> None:
    """Each shape against collections of 1,000 and 5,000 attendee-sized documents (~1 KB)."""
    client = open_client(infra.mongodb_uri)
    db = client[f"bench_mongo_{uuid.uuid4().hex[:8]}"]
    try:
        info = await db.command("buildInfo")
        server = f"MongoDB {info.get('version', '?')}"
        if isinstance(info.get("ferretdb"), dict):  # FerretDB 2 says so here; a label only, the queries are the same
            server = f"FerretDB {info['ferretdb'].get('version', '?')} (as MongoDB {info.get('version', '?')})"
        for size in SIZES:
            await _one_size(db, server, size)
    finally:
        await client.drop_database(db.name)
        await client.close()
