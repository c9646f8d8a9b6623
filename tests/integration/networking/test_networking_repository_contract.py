"""One contract for the networking repositories, run against the in-memory twin and the real Mongo-wire server.

What the use cases rely on must hold on both: conditional single-document updates (the group member limit through
`members.<n>` $exists, compare-and-set of calendars), upserts that an event-time guard or a tombstone refuses,
$setOnInsert, the unique `dedupe` index, regex search on folded text, $nin, keyset pages over (time, id) and
(name, id), and filters on array elements.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from networking import domain
from networking.calendar import MeetingsRepository
from networking.repository import NetworkingRepository, Taken
from plenary_kit.envelope import Envelope
from plenary_kit.mongo import open_client
from plenary_kit.testing.memory import memory_database

pytestmark = pytest.mark.integration

T0 = datetime(2020, 6, 22, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "store"])
async def db(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield memory_database()
        return
    infra = request.getfixturevalue("infra")
    client = open_client(infra.mongodb_uri)
    try:
        yield client[request.getfixturevalue("mongo_db_name")]
    finally:
        await client.close()


@pytest.fixture
async def repo(db: Any) -> NetworkingRepository:
    repository = NetworkingRepository(db)
    await repository.ensure_indexes()
    return repository


@pytest.fixture
async def meetings(db: Any) -> MeetingsRepository:
    repository = MeetingsRepository(db)
    await repository.ensure_indexes()
    return repository


def event(subject: str) -> tuple[str, Envelope]:
    return "t.networking.x", Envelope.new("org.plenary.test.v1", source="/t", subject=subject, data={})


def person(name: str, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"name": name, "organisation": "Org", "job_title": "", "country": "KE", "region": "D",
                              "stakeholder_type": "academia", "languages": ["en"],
                              "interests": {"action_lines": ["C1"], "sdgs": [4]}, "roles": ["attendee"],
                              "directory": True, "search": domain.search_text(name, "Org", ""),
                              "sort_name": domain.fold(name)}
    fields.update(overrides)
    return fields


async def test_people_projection_refuses_older_events_and_erased_people(repo: NetworkingRepository) -> None:
    assert await repo.put_person("p1", T0, person("Ana"), registered=True)
    assert not await repo.put_person("p1", T0 - timedelta(seconds=1), person("Old"), registered=False)
    assert await repo.put_person("p1", T0 + timedelta(seconds=1), person("Ana Maria"), registered=False)
    assert (await repo.person("p1"))["name"] == "Ana Maria"
    assert await repo.put_person("p2", T0, person("Bo"), registered=False)  # first sight through an update
    assert (await repo.person("p2"))["status"] == domain.ACTIVE
    await repo.erase_person("p1", T0 + timedelta(seconds=2))
    await repo.erase_person("p1", T0 + timedelta(seconds=2))
    assert not await repo.put_person("p1", T0 + timedelta(hours=1), person("Back"), registered=True)
    erased = await repo.person("p1")
    assert erased["status"] == domain.ERASED and "name" not in erased and "sort_name" not in erased


async def test_directory_search_and_pages(repo: NetworkingRepository) -> None:
    for n, name in enumerate(["Zoë Adams", "Émile Zola", "Li Wei", "Ana Silva", "Ana Costa"]):
        await repo.put_person(f"p{n}", T0, person(name, interests={"action_lines": ["C1", f"C{n + 2}"],
                                                                  "sdgs": [n + 1]}), registered=True)
    await repo.put_person("hidden", T0, person("Ana Hidden", directory=False), registered=True)

    async def found(**query: Any) -> list[str]:
        docs = await repo.directory(domain.DirectoryQuery(**query), after=None, limit=50)
        return [d["name"] for d in docs]

    assert await found(q="ana") == ["Ana Costa", "Ana Silva"]
    assert await found(q="EMILE") == ["Émile Zola"]
    assert await found(q="zo") == ["Émile Zola", "Zoë Adams"]
    assert await found(action_line="C2") == ["Zoë Adams"]
    assert await found(sdg=3) == ["Li Wei"]
    assert await found(q="(") == []
    names: list[str] = []
    after = None
    while True:
        page = await repo.directory(domain.DirectoryQuery(), after=after, limit=2)
        names.extend(d["name"] for d in page)
        if len(page) < 2:
            break
        after = (page[-1]["sort_name"], page[-1]["_id"])
    assert names == ["Ana Costa", "Ana Silva", "Émile Zola", "Li Wei", "Zoë Adams"]


async def test_group_membership_keeps_to_the_limit(repo: NetworkingRepository) -> None:
    await repo.insert_conversation({"_id": "g1", "kind": domain.GROUP, "members": ["a", "b"], "active_at": T0},
                                   [event("g1")])
    with pytest.raises(Taken):
        await repo.insert_conversation({"_id": "g1", "kind": domain.GROUP, "members": ["x"], "active_at": T0}, [])
    assert await repo.add_members("g1", "a", ["c", "d"], 4, [event("g1")])
    assert not await repo.add_members("g1", "a", ["e"], 4, [event("g1")])  # would be 5 of 4
    assert not await repo.add_members("g1", "zz", ["e"], 10, [])  # not a member
    assert await repo.leave("g1", "d", [event("g1")])
    assert not await repo.leave("g1", "d", [event("g1")])
    assert await repo.add_members("g1", "b", ["e"], 4, [])
    doc = await repo.conversation("g1")
    assert doc["members"] == ["a", "b", "c", "e"] and "_outbox" not in doc
    raw = await repo.conversations.find_one({"_id": "g1"})
    assert len(raw["_outbox"]) == 3  # started, added, left


async def test_conversations_page_by_activity(repo: NetworkingRepository) -> None:
    for n in range(5):
        await repo.insert_conversation({"_id": f"c{n}", "kind": domain.DIRECT, "members": ["me", f"o{n}"],
                                        "active_at": T0 + timedelta(minutes=n % 3)}, [])
    await repo.touch("c0", T0 + timedelta(hours=1))
    await repo.touch("c0", T0)  # older: ignored
    seen: list[str] = []
    after = None
    while True:
        page = await repo.conversations_of("me", after=after, limit=2)
        seen.extend(d["_id"] for d in page)
        if len(page) < 2:
            break
        after = (domain.as_utc(page[-1]["active_at"]), page[-1]["_id"])
    assert seen == ["c0", "c2", "c4", "c1", "c3"]


async def test_messages_dedupe_hide_and_forget_authors(repo: NetworkingRepository) -> None:
    for n in range(4):
        at = T0 + timedelta(seconds=n)
        await repo.insert_message({"_id": domain.time_id("msg", at), "conversation_id": "c", "text": f"m{n}",
                                   "author_id": "a" if n % 2 else "b", "sent_at": at, "dedupe": f"k{n}"},
                                  [event("c")])
    retry = await repo.insert_message({"_id": domain.time_id("msg", T0), "conversation_id": "c", "text": "again",
                                       "author_id": "b", "sent_at": T0, "dedupe": "k0"}, [event("c")])
    assert retry["text"] == "m0"
    newest = await repo.messages_of("c", before=None, limit=2, hide_authors=[])
    assert [m["text"] for m in newest] == ["m3", "m2"]
    older = await repo.messages_of("c", before=newest[-1]["_id"], limit=5, hide_authors=["a"])
    assert [m["text"] for m in older] == ["m0"]
    assert await repo.forget_author("a") == 2
    assert await repo.forget_author("a") == 0
    assert [m["author_id"] for m in await repo.messages_of("c", before=None, limit=5, hide_authors=[])] == \
        [None, "b", None, "b"]


async def test_blocks(repo: NetworkingRepository) -> None:
    assert await repo.block("a", "b", T0)
    assert not await repo.block("a", "b", T0 + timedelta(seconds=1))
    await repo.block("c", "b", T0)
    assert await repo.has_blocked("a", "b") and not await repo.has_blocked("b", "a")
    assert await repo.who_blocked(["a", "c", "d", "b"], "b") == {"a", "c"}
    assert (await repo.blocked_by("a"))[0]["blocked_at"].replace(tzinfo=UTC) == T0
    await repo.forget_blocks("b")
    assert await repo.who_blocked(["a", "c"], "b") == set()


async def test_schedules(repo: NetworkingRepository) -> None:
    await repo.put_session("s1", T0, {"title": "One", "starts_at": T0, "ends_at": T0 + timedelta(hours=1),
                                      "status": "scheduled", "speaker_ids": ["spk"]})
    await repo.put_session("s2", T0, {"title": "Two", "starts_at": T0, "ends_at": T0 + timedelta(hours=1),
                                      "status": "scheduled", "speaker_ids": []})
    await repo.put_enrolment("s2", "p", "waiting", T0)
    assert not await repo.put_enrolment("s2", "p", "withdrawn", T0 - timedelta(seconds=1))
    await repo.put_speaker("spk", T0, "p")
    assert sorted((s["_id"], s["speaking"], s["waiting"]) for s in await repo.scheduled_sessions("p")) == \
        [("s1", True, False), ("s2", False, True)]
    await repo.put_session("s1", T0 + timedelta(seconds=1), {"status": "cancelled"})
    await repo.put_enrolment("s2", "p", "withdrawn", T0 + timedelta(seconds=1))
    assert await repo.scheduled_sessions("p") == []


async def test_calendars_are_compare_and_set(meetings: MeetingsRepository) -> None:
    entry = {"id": "m1", "kind": "meeting", "starts_at": T0, "ends_at": T0 + timedelta(minutes=30)}
    assert await meetings.replace_entries("p", 0, [entry])
    assert not await meetings.replace_entries("p", 0, [])  # someone else created it first
    calendar = await meetings.calendar("p")
    assert calendar["version"] == 1 and calendar["entries"][0]["id"] == "m1"
    assert await meetings.replace_entries("p", 1, [])
    assert not await meetings.replace_entries("p", 1, [entry])  # stale version


async def test_meetings_and_slots_change_only_from_the_expected_state(meetings: MeetingsRepository) -> None:
    await meetings.insert_meeting({"_id": "m1", "requester_id": "a", "invitee_id": "b", "status": domain.PENDING},
                                  [event("m1")])
    assert await meetings.transition("m1", domain.PENDING, {"status": domain.ACCEPTED}, [event("m1")])
    assert not await meetings.transition("m1", domain.PENDING, {"status": domain.DECLINED}, [])
    assert [m["_id"] for m in await meetings.meetings_of("b", status=domain.ACCEPTED, before=None, limit=5)] == ["m1"]
    assert await meetings.forget_participant("m1", "invitee_id", "b", {"status": domain.CANCELLED}, [event("m1")])
    assert not await meetings.forget_participant("m1", "invitee_id", "b", {"status": domain.CANCELLED}, [])
    await meetings.insert_slot({"_id": "s1", "speaker_id": "spk", "status": domain.OPEN, "booked_by": None,
                                "starts_at": T0}, [event("s1")])
    assert await meetings.change_slot("s1", {"status": domain.OPEN}, {"status": domain.BOOKED, "booked_by": "x",
                                                                      "booked_at": T0}, [event("s1")])
    assert not await meetings.change_slot("s1", {"status": domain.OPEN}, {"status": domain.BOOKED,
                                                                          "booked_by": "y"}, [])
    assert (await meetings.slot("s1"))["booked_by"] == "x"
    assert await meetings.change_slot("s1", {"status": domain.BOOKED, "booked_by": "x"},
                                      {"status": domain.OPEN, "booked_by": None}, [], unset=["booked_at"])
    page = await meetings.slots_page({"status": domain.OPEN}, after=None, limit=5)
    assert [s["_id"] for s in page] == ["s1"] and "booked_at" not in page[0]
    assert await meetings.count_slots("spk") == 1
