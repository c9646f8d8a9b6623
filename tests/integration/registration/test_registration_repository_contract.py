"""One contract for AttendeeRepository, run against the in-memory twin and the real Mongo-wire store.

What the handlers rely on must hold on both: unique e-mail addresses (also when registrations race, after a change
of address and after an erasure), conditional single-document updates with dotted paths, the atomic attempt
counter, keyset pagination, filters on array elements and regex search.
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


@pytest.fixture(params=["memory", "mongo"])
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
        set_, unset = domain.tombstone_update(NOW)
        assert await repo.update(f"id-00{n}", where={"status": {"$ne": "erased"}}, set_=set_, unset=list(unset),
                                 events=[event(f"id-00{n}", 9)])
    stored = await raw(repo, "id-001")
    assert set(stored) == {"_id", "status", "erased_at", "version", "_outbox"}
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


async def test_racing_registrations_of_one_address_make_one_account(repo: AttendeeRepository) -> None:
    racers = [doc(n, email=f"{case}@example.org", email_lc="race@example.org")
              for n, case in ((3, "race"), (4, "RACE"), (5, "Race"), (6, "rAce"))]
    # one repository each (each its own insert command, as from separate processes), and two through one (one
    # insert_many carrying both)
    repos = [repo, repo, AttendeeRepository(repo.collection), AttendeeRepository(repo.collection)]
    results = await asyncio.gather(*(r.insert(racer, []) for r, racer in zip(repos, racers, strict=True)),
                                   return_exceptions=True)
    assert sum(r is None for r in results) == 1, results
    assert all(isinstance(r, EmailTaken) for r in results if r is not None), results
    assert await repo.collection.count_documents({"email_lc": "race@example.org"}) == 1
    winner = racers[results.index(None)]
    assert (await repo.get_by_email("race@example.org") or {}).get("_id") == winner["_id"]
    assert await repo.collection.count_documents({}) == 1  # the losers left nothing behind


async def test_a_change_of_address_follows_and_an_erased_address_registers_again(repo: AttendeeRepository) -> None:
    for n in (1, 2):
        await repo.insert(doc(n), [])
    # a new address: the new one finds the attendee, the old one nobody, and it is free for someone else
    assert await repo.update("id-001", set_={"email": "new.1@example.org", "email_lc": "new.1@example.org"})
    assert (await repo.get_by_email("new.1@example.org") or {}).get("_id") == "id-001"
    assert await repo.get_by_email("person.1@example.org") is None
    await repo.insert(doc(3, email="person.1@example.org", email_lc="person.1@example.org"), [])
    assert (await repo.get_by_email("person.1@example.org") or {}).get("_id") == "id-003"
    # racing changes of address to one free address: one attendee gets it
    results = await asyncio.gather(
        *(repo.update(f"id-00{n}", set_={"email": "same@example.org", "email_lc": "same@example.org"})
          for n in (1, 2, 3)), return_exceptions=True)
    assert sum(r is True for r in results) == 1, results
    assert all(isinstance(r, EmailTaken) for r in results if r is not True), results
    assert await repo.collection.count_documents({"email_lc": "same@example.org"}) == 1
    # erased: no address is kept, the address is free again and registers as a new attendee
    set_, unset = domain.tombstone_update(NOW)
    assert await repo.update("id-002", set_=set_, unset=list(unset))
    assert "email_lc" not in await raw(repo, "id-002")
    assert await repo.get_by_email("person.2@example.org") is None
    await repo.insert(doc(4, email="person.2@example.org", email_lc="person.2@example.org"), [])
    assert (await repo.get_by_email("person.2@example.org") or {}).get("_id") == "id-004"
    assert await repo.count_attempt("nobody@example.org") is None


async def test_indexes_made_by_an_earlier_version_are_replaced(repo: AttendeeRepository) -> None:
    # before tombstones dropped their address, every attendee had one and the index was not sparse
    await repo.collection.drop_index("email_lc_unique")
    await repo.collection.create_index([("email_lc", 1)], unique=True, name="email_lc_unique")
    await repo.ensure_indexes()
    await repo.ensure_indexes()  # a second start (or replica) finds it in place
    assert (await repo.collection.index_information())["email_lc_unique"].get("sparse")
    for n in (1, 2):
        await repo.insert(doc(n), [])
        set_, unset = domain.tombstone_update(NOW)
        assert await repo.update(f"id-00{n}", set_=set_, unset=list(unset))
    await repo.insert(doc(3), [])
    with pytest.raises(EmailTaken):
        await repo.insert(doc(4, email_lc="person.3@example.org"), [])
