from __future__ import annotations

from typing import Any

from plenary_kit.mongo import find_by_ids
from plenary_kit.testing.memory import memory_database


class Counting:
    """A collection that counts which kind of query it answers."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lookups = 0
        self.scans = 0

    def find_one(self, *args: Any, **kwargs: Any) -> Any:
        self.lookups += 1
        return self.inner.find_one(*args, **kwargs)

    def find(self, *args: Any, **kwargs: Any) -> Any:
        self.scans += 1
        return self.inner.find(*args, **kwargs)


async def test_a_few_ids_are_looked_up_one_by_one_and_many_in_one_query() -> None:
    db = memory_database()
    people = Counting(db["people"])
    for n in range(40):
        await people.inner.insert_one({"_id": f"a{n}", "name": f"Person {n}", "secret": n})

    few = await find_by_ids(people, ["a3", "a1", "a3", "nobody"], {"secret": 0})
    assert sorted(d["_id"] for d in few) == ["a1", "a3"]  # each once; unknown ids left out
    assert all("secret" not in d for d in few)
    assert (people.lookups, people.scans) == (3, 0)

    many = await find_by_ids(people, [f"a{n}" for n in range(30)] + ["nobody"])
    assert sorted(d["_id"] for d in many) == sorted(f"a{n}" for n in range(30))
    assert (people.lookups, people.scans) == (3, 1)
    assert await find_by_ids(people, []) == []
