"""Guarded writes answered by `_id` (kit guards.py): the matcher decides as MongoDB does (mongomock's matcher is the
oracle), and on a FerretDB-like server the writes reach the collection by `_id` alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mongomock.filtering import filter_applies
from plenary_kit import guards
from plenary_kit.doclocks import SerialisedDatabase
from plenary_kit.guards import ServerKind, matches
from plenary_kit.testing.memory import memory_database
from pymongo import ReturnDocument

NOW = datetime(2020, 7, 7, 9, 0, tzinfo=UTC)
DOCS: list[dict[str, Any]] = [
    {"_id": "a", "status": "registered", "version": 3, "online": True, "last_seen_at": NOW,
     "queue": ["p1", "p2"], "signin": {"h": "x", "attempts": 2}, "votes": 0, "email_lc": "a@x.org"},
    {"_id": "b", "status": "withdrawn", "version": 1, "online": False, "last_seen_at": NOW - timedelta(minutes=5),
     "queue": [], "author_id": None, "votes": 2.0},
    {"_id": "c", "status": "registered"},
]
QUERIES: list[dict[str, Any]] = [
    {"version": 3}, {"version": 3.0}, {"version": "3"},
    {"status": "registered", "online": True},
    {"status": {"$ne": "withdrawn"}}, {"status": {"$in": ["withdrawn", "erased"]}}, {"status": {"$nin": ["x"]}},
    {"online": True, "last_seen_at": {"$gte": NOW - timedelta(minutes=1)}},
    {"last_seen_at": {"$lt": NOW - timedelta(minutes=1)}},
    {"$or": [{"online": False}, {"last_seen_at": {"$lt": NOW - timedelta(minutes=1)}}]},
    {"$and": [{"status": "registered"}, {"version": {"$gt": 2}}]},
    {"queue": "p2"}, {"queue": "p9"}, {"queue": {"$ne": "p1"}}, {"queue.0": "p1"}, {"queue.0": {"$exists": True}},
    {"queue": ["p1", "p2"]}, {"queue": []},
    {"signin.h": "x"}, {"signin.h": {"$exists": True}}, {"signin.attempts": {"$lte": 2}}, {"signin.h": "y"},
    {"author_id": None}, {"missing": None}, {"missing": {"$exists": False}}, {"missing": {"$ne": 1}},
    {"votes": 0}, {"votes": {"$gte": 1}}, {"votes": {"$lt": "z"}}, {"email_lc": "a@x.org", "version": {"$eq": 3}},
]


@pytest.mark.parametrize("query", QUERIES, ids=[str(q) for q in QUERIES])
def test_the_matcher_agrees_with_mongodb_semantics(query: dict[str, Any]) -> None:
    for doc in DOCS:
        assert matches(doc, query) == filter_applies(query, doc), (doc["_id"], query)


def test_booleans_are_not_numbers() -> None:
    # MongoDB keeps BSON types apart (mongomock, comparing in Python, says True == 1)
    assert matches({"version": 1}, {"version": True}) is False
    assert matches({"online": True}, {"online": 1}) is False
    assert matches({"online": True}, {"online": True}) is True


def test_what_it_does_not_know_it_leaves_to_the_server() -> None:
    for query in ({"name": {"$regex": "^A"}}, {"signin": {"h": "x", "attempts": 2}}, {"queue": {"$size": 2}},
                  {"$where": "true"}, {"tags.name": "x"}, {"queue": {"$gte": "p1"}}):
        doc = {"_id": "a", "name": "Ada", "signin": {"h": "x", "attempts": 2}, "queue": ["p1"], "tags": [{"n": 1}]}
        assert matches(doc, query) is None, query


class Spy:
    """A collection that notes every filter it is given."""

    def __init__(self, collection: Any) -> None:
        self._c = collection
        self.filters: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._c, name)

        async def noted(filter: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            self.filters.append(filter)
            return await method(filter, *args, **kwargs)

        return noted


@pytest.mark.parametrize("ferretdb", [True, False])
async def test_guarded_writes_have_the_same_outcomes_and_go_by_id_on_ferretdb(ferretdb: bool) -> None:
    collection = memory_database()["things"]
    await collection.insert_many([dict(d) for d in DOCS])
    spy = Spy(collection)
    kind = ServerKind(None, force=ferretdb)
    result = await guards.update_one(spy, kind, {"_id": "a", "version": 3}, {"$inc": {"version": 1}})
    assert result.matched_count == 1
    result = await guards.update_one(spy, kind, {"_id": "a", "version": 3}, {"$inc": {"version": 1}})
    assert result.matched_count == 0  # the guard no longer holds
    after = await guards.find_one_and_update(spy, kind, {"_id": "b", "status": {"$ne": "withdrawn"}},
                                             {"$set": {"votes": 3}}, return_document=ReturnDocument.AFTER)
    assert after is None
    after = await guards.find_one_and_update(spy, kind, {"_id": "b", "online": False}, {"$set": {"online": True}},
                                             return_document=ReturnDocument.AFTER)
    assert after is not None and after["online"] is True
    assert await guards.find_one_and_update(spy, kind, {"_id": "zz", "online": False}, {"$set": {"x": 1}}) is None
    assert (await guards.delete_one(spy, kind, {"_id": "c", "status": "erased"})).deleted_count == 0
    assert (await guards.delete_one(spy, kind, {"_id": "c", "status": "registered"})).deleted_count == 1
    # a regular expression is the server's to decide, on either server
    assert (await guards.update_one(spy, kind, {"_id": "a", "email_lc": {"$regex": "^a@"}},
                                    {"$set": {"seen": True}})).matched_count == 1
    assert (await collection.find_one({"_id": "a"}))["version"] == 4
    by_id_only = all(set(f) == {"_id"} for f in spy.filters if "$regex" not in str(f))
    assert by_id_only is ferretdb


async def test_a_serialised_database_answers_guards_by_id_once_it_knows_the_server_is_ferretdb() -> None:
    raw = memory_database()
    db = SerialisedDatabase(raw, kind=ServerKind(raw, force=True))
    await db["things"].insert_one({"_id": "a", "version": 1})
    assert (await db["things"].update_one({"_id": "a", "version": 1}, {"$inc": {"version": 1}})).matched_count == 1
    assert (await db["things"].update_one({"_id": "a", "version": 1}, {"$inc": {"version": 1}})).matched_count == 0
    assert db["things"].database is db  # a repository reaching for a sibling collection stays serialised
    assert (await db["things"].database["other"].update_many({"n": {"$exists": False}}, {"$set": {"n": 1}})) \
        .matched_count == 0
    assert await ServerKind(raw).is_ferretdb() is False  # the in-memory twin does not say it is
