"""One contract for the sessions repository's seat and Q&A primitives, on the in-memory twin and on the real
Mongo-wire server.

What the use cases rely on must hold on both: guarded updates with dotted array positions (`queue.0`), `$pop`,
`$pull` and `$addToSet` with guards, unique primary keys, no lost updates when many writes hit one document at
once (the server applies each guarded update atomically), and booking locks that admit one holder per person at a
time, whichever process or task asks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from plenary_kit.mongo import open_client
from plenary_kit.problems import ProblemError
from plenary_kit.testing.memory import memory_database
from sessions.panel_locks import PanelLocks
from sessions.repository import Repository

pytestmark = pytest.mark.integration
NOW = datetime(2020, 7, 7, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "store"])
async def repo(request: pytest.FixtureRequest) -> AsyncIterator[Repository]:
    if request.param == "memory":
        repository = Repository(memory_database())
        await repository.create_indexes()
        yield repository
        return
    infra = request.getfixturevalue("infra")
    client = open_client(infra.mongodb_uri)
    try:
        repository = Repository(client[request.getfixturevalue("mongo_db_name")])
        await repository.create_indexes()
        yield repository
    finally:
        await client.close()


async def test_seat_primitives(repo: Repository) -> None:
    await repo.ensure_seats("s", 2)
    await repo.ensure_seats("s", 99)  # a second call changes nothing
    assert (await repo.take_seat("s", "a", 2))["arrivals"] == 1
    assert await repo.take_seat("s", "a", 2) is None  # already seated
    assert await repo.join_queue("s", "b", 2) is None  # a seat is free and nobody waits: no queueing
    assert (await repo.take_seat("s", "b", 2))["taken"] == 2
    assert await repo.take_seat("s", "c", 2) is None  # full
    assert (await repo.join_queue("s", "c", 2))["queue"] == ["c"]
    assert (await repo.join_queue("s", "d", 2))["queue"] == ["c", "d"]
    assert await repo.promote_head("s", "c", 2) is False  # no free seat
    assert await repo.release_seat("s", "a") is True
    assert await repo.release_seat("s", "a") is False
    assert await repo.take_seat("s", "e", 2) is None  # a free seat, but people wait: no jumping the queue
    assert await repo.promote_head("s", "d", 2) is False  # d is not first
    assert await repo.promote_head("s", "c", 2) is True
    assert await repo.leave_queue("s", "d") is True
    seats = await repo.get_seats("s")
    assert seats is not None
    assert (seats["capacity"], seats["taken"], seats["seated"], seats["queue"], seats["arrivals"]) == \
        (2, 2, ["b", "c"], [], 4)


async def test_no_lost_updates_under_concurrency(repo: Repository) -> None:
    await repo.ensure_seats("s", 10)

    async def enrol(n: int) -> str:
        if await repo.take_seat("s", f"p{n}", 10):
            return "seated"
        if await repo.join_queue("s", f"p{n}", 10):
            return "waiting"
        return "retry"

    outcomes = await asyncio.gather(*(enrol(n) for n in range(60)))
    seats = await repo.get_seats("s")
    assert seats is not None
    assert seats["taken"] == 10 and len(seats["seated"]) == 10
    assert len(seats["seated"]) + len(seats["queue"]) == seats["arrivals"] == outcomes.count("seated") + \
        outcomes.count("waiting")
    assert outcomes.count("seated") == 10

    await repo.insert_question({"_id": "q", "session_id": "s", "votes": 0, "voters": [], "status": "visible",
                                "asked_at": NOW})

    async def vote(n: int) -> None:
        for _ in range(100):
            q = await repo.get_question("s", "q")
            assert q is not None
            if await repo.update_question("q", {"votes": q["votes"], "voters": {"$ne": f"v{n}"}},
                                          {"$inc": {"votes": 1}, "$addToSet": {"voters": f"v{n}"}}, []):
                return

    await asyncio.gather(*(vote(n) for n in range(40)))
    q = await repo.get_question("s", "q")
    assert q is not None and q["votes"] == 40 and len(q["voters"]) == 40


async def test_booking_locks_hold_people_one_holder_at_a_time(repo: Repository) -> None:
    locks, leases = repo.panel_locks, repo.db["panel_locks"]
    order: list[str] = []

    async def book(name: str, people: list[str], pause: float) -> None:
        async with locks.hold(people):
            order.append(f"{name} in")
            await asyncio.sleep(pause)
            order.append(f"{name} out")

    # two panels sharing one person, named in different orders: one after the other, no deadlock
    await asyncio.gather(book("one", ["spk-b", "spk-a"], 0.05), book("two", ["spk-a", "spk-c"], 0))
    assert order == ["one in", "one out", "two in", "two out"]
    assert await leases.count_documents({}) == 0  # every lease given back

    # another process (its own in-process locks) holding a lease: wait for it, or give up with a 503
    other = PanelLocks(leases, wait_seconds=0.3)
    async with locks.hold(["spk-d"]):
        with pytest.raises(ProblemError) as busy:
            async with other.hold(["spk-d"]):
                pass
    assert busy.value.status == 503 and busy.value.headers == {"Retry-After": "1"}
    releasing = asyncio.create_task(book("three", ["spk-d"], 0.1))
    await asyncio.sleep(0.02)
    async with other.hold(["spk-d"]):
        order.append("other in")
    await releasing
    assert order[-3:] == ["three in", "three out", "other in"]

    # a lease left behind by a process that died is taken over once it has expired
    await leases.insert_one({"_id": "spk-e", "owner": "crashed", "expires_at": NOW})
    async with locks.hold(["spk-e"]):
        held = await leases.find_one({"_id": "spk-e"})
        assert held is not None and held["owner"] != "crashed"
    assert await leases.count_documents({}) == 0
