"""One contract for AttendeeRepository, run against the in-memory twin and the real FerretDB.

What the handlers rely on must hold on both: unique e-mail addresses, conditional single-document updates with
dotted paths, the atomic attempt counter, keyset pagination, filters on array elements and regex search.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from plenary_kit.envelope import Envelope
from plenary_kit.mongo import open_client
from plenary_kit.testing.memory import memory_database
from registration import domain
from registration.repository import AttendeeRepository, EmailTaken, IdTaken

pytestmark = pytest.mark.integration

NOW = datetime(2020, 7, 6, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "ferretdb"])
async def repo(request: pytest.FixtureRequest) -> AsyncIterator[AttendeeRepository]:
    if request.param == "memory":
        repository = AttendeeRepository(memory_database()["attendees"])
        await repository.ensure_indexes()
        yield repository
        return
    infra = request.getfixturevalue("infra")
    db_name = request.getfixturevalue("mongo_db_name")
    client = open_client(infra.mongodb_uri)
    try:
        repository = AttendeeRepository(client[db_name]["attendees"])
        await repository.ensure_indexes()
        yield repository
    finally:
        await client.close()


def doc(n: int, **overrides: Any) -> dict[str, Any]:
    cmd = domain.Register(name=f"Person {n}", email=f"person.{n}@example.org", country="KE", gender="female",
                          stakeholder_type="academia", organisation=f"Org {n}")
    document = domain.new_attendee_document(f"id-{n:03d}", cmd, NOW)
    document.update(overrides)
    return document


def event(subject: str, n: int = 0) -> tuple[str, Envelope]:
    return "t.registration.attendees", Envelope.new("org.plenary.test.v1", source="/t", subject=subject,
                                                     data={"n": n})


async def raw(repo: AttendeeRepository, attendee_id: str) -> dict[str, Any]:
    found = await repo.collection.find_one({"_id": attendee_id})
    assert found is not None
    return found


async def test_insert_and_read_back_without_the_outbox(repo: AttendeeRepository) -> None:
    await repo.insert(doc(1), [event("id-001")])
    found = await repo.get("id-001")
    assert found is not None and "_outbox" not in found
    assert found["name"] == "Person 1" and found["registered_at"] == NOW
    assert found["consents"]["directory"] == {"given": False, "given_at": None}
    assert [e["subject"] for e in (await raw(repo, "id-001"))["_outbox"]] == ["id-001"]
    by_email = await repo.get_by_email("person.1@example.org")
    assert by_email is not None and by_email["_id"] == "id-001"
    assert await repo.get("id-999") is None and await repo.get_by_email("nobody@example.org") is None


async def test_email_and_id_are_unique(repo: AttendeeRepository) -> None:
    await repo.insert(doc(1), [])
    with pytest.raises(EmailTaken):
        await repo.insert(doc(2, email_lc="person.1@example.org", email="PERSON.1@example.org"), [])
    with pytest.raises(IdTaken):
        await repo.insert(doc(1), [])
    assert await repo.collection.count_documents({}) == 1


async def test_conditional_updates_with_dotted_paths(repo: AttendeeRepository) -> None:
    await repo.insert(doc(1), [event("id-001", 1)])
    assert await repo.update("id-001", where={"version": 1}, set_={"job_title": "Dean"}, events=[event("id-001", 2)])
    assert not await repo.update("id-001", where={"version": 1}, set_={"job_title": "Nope"})
    stored = await raw(repo, "id-001")
    assert stored["version"] == 2 and stored["job_title"] == "Dean"
    assert [e["data"]["n"] for e in stored["_outbox"]] == [1, 2]
    exp = NOW + timedelta(days=30)
    await repo.update("id-001", set_={"refresh.fa": {"h": "ha", "exp": exp, "created_at": NOW},
                                      "refresh.fb": {"h": "hb", "exp": exp, "created_at": NOW}}, bump_version=False)
    assert await repo.update("id-001", where={"refresh.fa.h": "ha", "status": "registered"},
                             set_={"refresh.fa.h": "ha2"}, unset=["refresh.fb"], bump_version=False)
    assert not await repo.update("id-001", where={"refresh.fa.h": "ha"}, set_={"refresh.fa.h": "x"},
                                 bump_version=False)
    stored = await raw(repo, "id-001")
    assert stored["refresh"] == {"fa": {"h": "ha2", "exp": exp, "created_at": NOW}} and stored["version"] == 2
    assert await repo.update("id-001", where={"status": {"$ne": "erased"}}, set_={"consents.directory": {
        "given": True, "given_at": NOW}}, bump_version=False)
    assert (await raw(repo, "id-001"))["consents"]["directory"] == {"given": True, "given_at": NOW}


async def test_an_update_to_a_taken_email_is_refused(repo: AttendeeRepository) -> None:
    await repo.insert(doc(1), [])
    await repo.insert(doc(2), [])
    with pytest.raises(EmailTaken):
        await repo.update("id-002", set_={"email": "person.1@example.org", "email_lc": "person.1@example.org"})
    assert (await raw(repo, "id-002"))["email_lc"] == "person.2@example.org"


async def test_the_attempt_counter_is_atomic_and_needs_a_pending_code(repo: AttendeeRepository) -> None:
    await repo.insert(doc(1), [])
    assert await repo.count_attempt("person.1@example.org") is None
    await repo.update("id-001", set_={"signin": {"h": "h", "exp": NOW, "attempts": 0, "used": False}},
                      bump_version=False)
    counts = [(await repo.count_attempt("person.1@example.org") or {})["signin"]["attempts"] for _ in range(3)]
    assert counts == [1, 2, 3]
    assert await repo.update("id-001", where={"signin.h": "h", "signin.used": False}, set_={"signin.used": True},
                             bump_version=False)
    assert not await repo.update("id-001", where={"signin.h": "h", "signin.used": False},
                                 set_={"signin.used": True}, bump_version=False)


async def test_tombstones_coexist_and_keep_no_personal_data(repo: AttendeeRepository) -> None:
    for n in (1, 2):
        await repo.insert(doc(n), [event(f"id-00{n}")])
        set_, unset = domain.tombstone_update(f"id-00{n}", NOW)
        assert await repo.update(f"id-00{n}", where={"status": {"$ne": "erased"}}, set_=set_, unset=list(unset),
                                 events=[event(f"id-00{n}", 9)])
    stored = await raw(repo, "id-001")
    assert set(stored) == {"_id", "status", "erased_at", "email_lc", "version", "_outbox"}
    assert [e["data"]["n"] for e in stored["_outbox"]] == [0, 9]
    assert not await repo.update("id-001", where={"status": {"$ne": "erased"}}, set_={"status": "erased"})


async def test_filters_search_and_keyset_pages(repo: AttendeeRepository) -> None:
    for n in range(1, 8):
        overrides: dict[str, Any] = {}
        if n % 2:
            overrides["roles"] = ["attendee", "speaker"]
        if n == 7:
            overrides["status"] = "cancelled"
        if n == 6:
            overrides.update(status="erased")
        await repo.insert(doc(n, **overrides), [])
    live = {"status": {"$in": ["registered", "cancelled"]}}
    ids = [d["_id"] for d in await repo.page(live, after=None, limit=100)]
    assert ids == ["id-001", "id-002", "id-003", "id-004", "id-005", "id-007"]
    speakers = [d["_id"] for d in await repo.page({**live, "roles": "speaker"}, after=None, limit=100)]
    assert speakers == ["id-001", "id-003", "id-005", "id-007"]
    found = await repo.page({**live, "search": {"$regex": "org 4"}}, after=None, limit=100)
    assert [d["_id"] for d in found] == ["id-004"]
    first = await repo.page(live, after=None, limit=2)
    second = await repo.page(live, after=first[-1]["_id"], limit=2)
    assert [d["_id"] for d in first + second] == ["id-001", "id-002", "id-003", "id-004"]
    assert all("_outbox" not in d for d in first)
    streamed = [d["_id"] async for d in repo.iterate({"status": "registered"}, batch=2)]
    assert streamed == ["id-001", "id-002", "id-003", "id-004", "id-005"]


class _Watched:
    """The attendee collection, noting every query that is not an `_id` lookup (on FerretDB: a whole-collection
    read)."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self.slow: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    async def find_one(self, filter: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if set(filter) - {"_id"}:
            self.slow.append(filter)
        return await self._collection.find_one(filter, *args, **kwargs)

    async def find_one_and_update(self, filter: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if "_id" not in filter:
            self.slow.append(filter)
        return await self._collection.find_one_and_update(filter, *args, **kwargs)


async def test_addresses_are_found_by_id_lookups_and_follow_changes(repo: AttendeeRepository) -> None:
    watched = _Watched(repo.collection)
    repo = AttendeeRepository(watched, repo.by_email)  # type: ignore[arg-type]
    await repo.ensure_indexes()
    for n in (1, 2):
        await repo.insert(doc(n), [])
    assert (await repo.get_by_email("person.1@example.org") or {}).get("_id") == "id-001"
    assert await repo.get_by_email("nobody@example.org") is None
    assert await repo.count_attempt("nobody@example.org") is None
    # a new address: the new one finds the attendee, the old one nobody
    assert await repo.update("id-001", set_={"email": "new.1@example.org", "email_lc": "new.1@example.org"})
    assert (await repo.get_by_email("new.1@example.org") or {}).get("_id") == "id-001"
    assert watched.slow == []  # so far: no query but `_id` lookups
    assert await repo.get_by_email("person.1@example.org") is None  # its stale pointer: checked once, then gone
    assert await repo.by_email.find_one({"_id": "person.1@example.org"}) is None
    # the freed address can be taken by someone else, and is found for them
    await repo.insert(doc(3, email="person.1@example.org", email_lc="person.1@example.org"), [])
    assert (await repo.get_by_email("person.1@example.org") or {}).get("_id") == "id-003"
    # erased: the address is free again, and the tombstone's placeholder is never pointed at
    set_, unset = domain.tombstone_update("id-002", NOW)
    assert await repo.update("id-002", set_=set_, unset=list(unset))
    assert await repo.get_by_email("person.2@example.org") is None
    assert await repo.by_email.find_one({"_id": "erased:id-002"}) is None


async def test_attendees_from_before_the_pointers_are_indexed_once_and_a_lost_race_is_repaired(
        repo: AttendeeRepository) -> None:
    # registered by an older version: documents without pointers, and no marker
    for n in (1, 2):
        await repo.collection.insert_one(doc(n))
    await repo.by_email.delete_many({})
    later = AttendeeRepository(repo.collection, repo.by_email)
    assert (await later.get_by_email("person.2@example.org") or {}).get("_id") == "id-002"  # before the backfill
    await later.ensure_indexes()
    assert (await later.by_email.find_one({"_id": "person.1@example.org"}) or {}).get("attendee_id") == "id-001"
    # two registrations race for one address: exactly one wins, and the address leads to the winner
    results = await asyncio.gather(
        *(later.insert(doc(n, email="race@example.org", email_lc="race@example.org"), []) for n in (3, 4, 5)),
        return_exceptions=True)
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, EmailTaken) for r in results if r is not None)
    winner = await later.collection.find_one({"email_lc": "race@example.org"})
    assert winner is not None
    assert (await later.get_by_email("race@example.org") or {}).get("_id") == winner["_id"]
    # a pointer left naming someone who never got the address is repaired on the next lookup
    await later.by_email.update_one({"_id": "person.1@example.org"}, {"$set": {"attendee_id": "id-404"}})
    assert (await later.get_by_email("person.1@example.org") or {}).get("_id") == "id-001"
    assert (await later.by_email.find_one({"_id": "person.1@example.org"}) or {}).get("attendee_id") == "id-001"
