"""One suite, two adapters: the exhibition repository over the in-memory twin and over the real document store.

Every query the service makes must behave the same on both."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from exhibition.repository import CHUNK_SIZE, ExhibitionRepository, KeyTaken
from plenary_kit.envelope import Envelope
from plenary_kit.mongo import open_client
from plenary_kit.outbox import OutboxRelay
from plenary_kit.testing.memory import MemoryBroker, memory_database

pytestmark = pytest.mark.integration
T0 = datetime(2020, 7, 1, 9, 0, tzinfo=UTC)


def ev(subject: str, n: int = 0) -> list[tuple[str, Envelope]]:
    return [("t", Envelope.new("org.plenary.test.v1", source="/t", subject=subject, data={"n": n}))]


@pytest.fixture(params=["memory", "store"])
async def repo(request: pytest.FixtureRequest) -> AsyncIterator[ExhibitionRepository]:
    if request.param == "memory":
        repository = ExhibitionRepository(memory_database())
        await repository.ensure_indexes()
        yield repository
        return
    infra = request.getfixturevalue("infra")
    name = request.getfixturevalue("mongo_db_name")
    client = open_client(infra.mongodb_uri)
    try:
        repository = ExhibitionRepository(client[name])
        await repository.ensure_indexes()
        yield repository
    finally:
        await client.close()


def exhibitor(exhibitor_id: str, key: str) -> dict:
    return {"_id": exhibitor_id, "key": key, "organisation": f"Org {key}", "stakeholder_type": "academia",
            "country": "CH", "description": "", "tags": {}, "videos": [], "logo": None, "version": 1,
            "created_at": T0, "updated_at": T0}


async def test_exhibitor_keys_are_unique_and_updates_are_optimistic(repo: ExhibitionRepository) -> None:
    await repo.insert_exhibitor(exhibitor("ex-1", "k1"), ev("ex-1"))
    with pytest.raises(KeyTaken):
        await repo.insert_exhibitor(exhibitor("ex-2", "k1"), ev("ex-2"))
    await repo.insert_exhibitor(exhibitor("ex-3", "k3"), [])
    assert (await repo.exhibitor_by_key("k1"))["_id"] == "ex-1"
    assert "_outbox" not in await repo.exhibitor("ex-1")
    assert await repo.update_exhibitor("ex-1", 1, set_={"description": "d"}, events=ev("ex-1", 1))
    assert not await repo.update_exhibitor("ex-1", 1, set_={"description": "stale"})
    assert (await repo.exhibitor("ex-1"))["description"] == "d"
    assert await repo.update_exhibitor("ex-1", 2, set_={"removed_at": T0})
    assert await repo.exhibitor("ex-1") is None
    assert [d["_id"] for d in await repo.all_exhibitors()] == ["ex-3"]


async def test_assets_are_chunked_and_read_back_in_any_span(repo: ExhibitionRepository) -> None:
    data = bytes(range(256)) * (CHUNK_SIZE * 3 // 256) + b"tail"  # three full chunks and a bit
    await repo.store_asset({"_id": "m1", "exhibitor_id": "ex-1", "kind": "material", "title": "t",
                            "filename": "f.pdf", "content_type": "application/pdf", "size": len(data),
                            "sha256": "x", "created_at": T0}, data)
    assert await repo.asset("m1") is None  # not visible while uploading
    assert await repo.count_assets("ex-1") == 1  # but counted against the booth's limit
    assert await repo.publish_asset("m1", ev("ex-1"))
    assert (await repo.asset("m1"))["chunks"] == 4
    assert b"".join([c async for c in repo.read_chunks("m1", 0, 3)]) == data
    assert b"".join([c async for c in repo.read_chunks("m1", 2, 3)]) == data[2 * CHUNK_SIZE:]
    assert await repo.material_counts() == {"ex-1": 1}
    assert [a["_id"] for a in await repo.assets_of("ex-1")] == ["m1"]
    assert await repo.remove_asset("m1", T0, ev("ex-1", 2))
    assert await repo.asset("m1") is None
    assert [c async for c in repo.read_chunks("m1", 0, -1)] == []


async def test_purge_keeps_tombstones_until_their_events_are_out(repo: ExhibitionRepository) -> None:
    await repo.store_asset({"_id": "m1", "exhibitor_id": "ex-1", "kind": "material", "title": "t",
                            "filename": "f.txt", "content_type": "text/plain", "size": 1, "sha256": "x",
                            "created_at": T0}, b"a")
    await repo.store_asset({"_id": "m2", "exhibitor_id": "ex-1", "kind": "material", "title": "t",
                            "filename": "f.txt", "content_type": "text/plain", "size": 1, "sha256": "x",
                            "created_at": T0 - timedelta(hours=3)}, b"b")  # abandoned half-way
    await repo.publish_asset("m1", [])
    await repo.remove_asset("m1", T0, ev("ex-1"))
    assert await repo.purge(T0 - timedelta(hours=1)) == 1  # m2 only: m1's event is still waiting
    relay = OutboxRelay(repo.outbox_collections, MemoryBroker(), service="test")
    await relay.flush()
    assert await repo.purge(T0 - timedelta(hours=1)) == 1
    assert await repo.assets.count_documents({}) == 0
    assert await repo.chunks.count_documents({}) == 0


async def test_downloads_count_every_time_and_each_visitor_once(repo: ExhibitionRepository) -> None:
    recorded = [await repo.record_download("m1", "ex-1", v, T0, ev("ex-1")) for v in ("a", "a", "b", "a", "c")]
    assert [first for _, first in recorded] == [True, False, True, False, True]
    assert len({doc_id for doc_id, _ in recorded}) == 5  # each download is a document of its own
    concurrent = await asyncio.gather(*(repo.record_download("m2", "ex-1", "d", T0, ev("ex-1")) for _ in range(8)))
    assert sorted(first for _, first in concurrent) == [False] * 7 + [True]  # in parallel: one first download
    assert await repo.download_totals("ex-1") == {"m1": (5, 3), "m2": (8, 1)}
    assert await repo.download_totals("ex-2") == {}
    events = sum([len(d.get("_outbox", [])) async for d in repo.downloads.find({})])
    assert events == 13  # one event per download, in the document that counts it


async def test_visits_count_once_per_slot(repo: ExhibitionRepository) -> None:
    assert await repo.record_visit("ex-1", "a", T0, "s1", ev("ex-1")) is not None
    assert await repo.record_visit("ex-1", "a", T0, "s1", ev("ex-1")) is None
    assert await repo.record_visit("ex-1", "a", T0, "s2", ev("ex-1")) is not None
    assert await repo.record_visit("ex-1", "b", T0, "s2", ev("ex-1")) is not None
    concurrent = await asyncio.gather(*(repo.record_visit("ex-1", "c", T0, "s3", ev("ex-1")) for _ in range(6)))
    assert sum(doc_id is not None for doc_id in concurrent) == 1
    assert await repo.visit_totals("ex-1") == (4, 3)
    assert await repo.visit_totals("ex-2") == (0, 0)
    assert await repo.forget_visitor("a", "erased-1") == 3  # two visits and the first-visit marker
    assert await repo.forget_visitor("a", "erased-2") == 0
    assert await repo.visit_totals("ex-1") == (4, 3)


async def test_leads_share_revoke_and_share_again(repo: ExhibitionRepository) -> None:
    assert await repo.share("ex-1", "att-1", T0, ev("ex-1"))
    assert not await repo.share("ex-1", "att-1", T0 + timedelta(minutes=1), ev("ex-1"))
    assert await repo.share("ex-1", "att-2", T0 + timedelta(minutes=2), ev("ex-1"))
    assert await repo.share("ex-2", "att-1", T0, ev("ex-2"))
    assert [d["attendee_id"] for d in await repo.leads_of_exhibitor("ex-1")] == ["att-2", "att-1"]
    assert [d["attendee_id"] for d in await repo.leads_of_exhibitor("ex-1", skip=1, limit=1)] == ["att-1"]
    assert (await repo.lead("ex-1", "att-1"))["shared_at"] == T0
    assert await repo.revoke("ex-1", "att-1", T0, "revoked", ev("ex-1"))
    assert not await repo.revoke("ex-1", "att-1", T0, "revoked", ev("ex-1"))
    assert await repo.count_leads("ex-1") == 1
    assert sorted(d["exhibitor_id"] for d in await repo.leads_of_attendee("att-1")) == ["ex-2"]
    assert await repo.share("ex-1", "att-1", T0 + timedelta(hours=1), ev("ex-1"))
    lead = await repo.leads.find_one({"_id": "ex-1:att-1"})
    assert "revoked_at" not in lead and len(lead["_outbox"]) == 3


async def test_contacts_keep_the_newest_event_and_erasure_is_final(repo: ExhibitionRepository) -> None:
    details = {"name": "Amina", "email": "a@example.org", "organisation": "KICTANet"}
    assert await repo.put_contact("att-0", T0, None) is None  # never allowed contact: nothing kept
    assert await repo.contacts.find_one({"_id": "att-0"}) is None
    assert await repo.put_contact("att-1", T0, details) == "stored"
    assert await repo.put_contact("att-1", T0 - timedelta(days=1), {**details, "name": "Old"}) is None
    assert (await repo.contact("att-1"))["name"] == "Amina"
    assert await repo.put_contact("att-1", T0 + timedelta(seconds=1), None) == "withdrawn"
    assert await repo.put_contact("att-1", T0 + timedelta(seconds=1), None) is None
    assert await repo.contact("att-1") is None
    assert "email" not in await repo.contacts.find_one({"_id": "att-1"})
    assert await repo.put_contact("att-2", T0, details) == "stored"
    assert list(await repo.contacts_of(["att-1", "att-2", "att-3", "att-2"])) == ["att-2"]
    await repo.erase_contact("att-2", T0 + timedelta(seconds=5))
    await repo.erase_contact("att-2", T0 + timedelta(seconds=5))
    assert await repo.put_contact("att-2", T0 + timedelta(days=1), details) is None
    assert await repo.contact("att-2") is None
    stored = await repo.contacts.find_one({"_id": "att-2"})
    assert stored["erased"] and "email" not in stored
