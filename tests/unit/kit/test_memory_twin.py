"""The in-memory twin interleaves concurrent calls as a server would, and keeps each single-document write atomic."""

from __future__ import annotations

import asyncio

from plenary_kit.testing.memory import memory_database


async def test_a_read_then_write_loses_updates_under_concurrency_while_a_guarded_write_has_one_winner() -> None:
    db = memory_database()
    counters = db["counters"]
    await counters.insert_one({"_id": "c", "n": 0, "holder": None})

    async def read_then_write() -> None:
        doc = await counters.find_one({"_id": "c"})
        await counters.update_one({"_id": "c"}, {"$set": {"n": doc["n"] + 1}})

    await asyncio.gather(*(read_then_write() for _ in range(10)))
    lost = await counters.find_one({"_id": "c"})
    assert lost["n"] < 10  # every task read before any wrote: the calls interleaved

    async def take(who: str) -> bool:
        result = await counters.update_one({"_id": "c", "holder": None}, {"$set": {"holder": who}, "$inc": {"n": 1}})
        return bool(result.modified_count)

    won = await asyncio.gather(*(take(f"p{i}") for i in range(10)))
    assert won.count(True) == 1
    assert (await counters.find_one({"_id": "c"}))["n"] == lost["n"] + 1


async def test_uneven_turns_are_drawn_from_a_seed_and_reproducible() -> None:
    async def finishing_order(seed: int) -> list[int]:
        db = memory_database()
        db.interleave(20, seed=seed)
        order: list[int] = []

        async def one(i: int) -> None:
            await db["c"].insert_one({"_id": i})
            order.append(i)

        await asyncio.gather(*(one(i) for i in range(8)))
        return order

    first = await finishing_order(3)
    assert first != list(range(8))  # a later call overtook an earlier one
    assert await finishing_order(3) == first
