"""In-memory twins of the real adapters, for unit tests: same interfaces, no sockets.

- `memory_database()` is an async facade over mongomock with the AsyncCollection methods services use. Like a
  server, it lets other tasks run while a call is in flight: every awaited operation yields to the event loop
  before and after it does its work, so concurrent calls interleave (a read-check-write in application code can
  lose a race here as it would against MongoDB), while each single-document operation stays atomic, as a server
  applies it. By default every call takes the same number of turns, so concurrent calls advance in step; a race
  that needs one call to overtake another (a server's latencies vary) shows with `db.interleave(spread, seed)`,
  which makes each call wait a further 0 to `spread` turns, drawn from a seeded generator (reproducible).
- `MemoryBroker` records what is published and can replay it into a handler (a fake Kafka).
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from plenary_kit.envelope import DecodedEvent, Envelope, EventRegistry
from plenary_kit.kafka.consumer import Handler


class _Turns:
    """How long a call lets other tasks run, before and after its work (see the module doc)."""

    def __init__(self) -> None:
        self.spread = 0
        self._random = random.Random(0)

    def interleave(self, spread: int, seed: int) -> None:
        self.spread, self._random = spread, random.Random(seed)

    async def wait(self) -> None:
        """Let other tasks run, as awaiting a server's answer would."""
        for _ in range(1 + (self._random.randrange(self.spread + 1) if self.spread else 0)):
            await asyncio.sleep(0)


class _AsyncCursor:
    def __init__(self, cursor: Any, turns: _Turns) -> None:
        self._cursor = cursor
        self._turns = turns

    def sort(self, *args: Any, **kwargs: Any) -> _AsyncCursor:
        self._cursor = self._cursor.sort(*args, **kwargs)
        return self

    def skip(self, n: int) -> _AsyncCursor:
        self._cursor = self._cursor.skip(n)
        return self

    def limit(self, n: int) -> _AsyncCursor:
        self._cursor = self._cursor.limit(n)
        return self

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        await self._turns.wait()
        docs = list(self._cursor)
        await self._turns.wait()
        return docs if length is None else docs[:length]

    def __aiter__(self) -> _AsyncCursor:
        self._iter: Iterator[dict[str, Any]] = iter(self._cursor)
        return self

    async def __anext__(self) -> dict[str, Any]:
        await self._turns.wait()
        try:
            return next(self._iter)
        except StopIteration:
            raise StopAsyncIteration from None


class MemoryCollection:
    """The subset of pymongo's AsyncCollection used by Plenary's repositories."""

    def __init__(self, collection: Any, database: MemoryDatabase | None = None) -> None:
        self._c = collection
        self.name = collection.name
        self.database = database
        self._turns = database.turns if database is not None else _Turns()

    def find(self, *args: Any, **kwargs: Any) -> _AsyncCursor:
        return _AsyncCursor(self._c.find(*args, **kwargs), self._turns)

    async def aggregate(self, pipeline: list[dict[str, Any]], **kwargs: Any) -> _AsyncCursor:
        await self._turns.wait()
        cursor = _AsyncCursor(self._c.aggregate(pipeline, **kwargs), self._turns)
        await self._turns.wait()
        return cursor

    async def bulk_write(self, requests: list[Any], ordered: bool = True, **kwargs: Any) -> Any:
        """pymongo's request objects, replayed one by one (mongomock's own bulk API lags pymongo's); each is atomic
        on its own and other tasks may run between them, as on a server."""
        from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne

        modified = 0
        for req in requests:
            await self._turns.wait()
            if isinstance(req, InsertOne):
                self._c.insert_one(req._doc)
            elif isinstance(req, UpdateOne | UpdateMany):
                fn = self._c.update_one if isinstance(req, UpdateOne) else self._c.update_many
                modified += fn(req._filter, req._doc, upsert=bool(req._upsert)).modified_count
            elif isinstance(req, ReplaceOne):
                modified += self._c.replace_one(req._filter, req._doc, upsert=bool(req._upsert)).modified_count
            elif isinstance(req, DeleteOne):
                self._c.delete_one(req._filter)
            elif isinstance(req, DeleteMany):
                self._c.delete_many(req._filter)
            else:  # pragma: no cover
                raise TypeError(f"unsupported bulk request {req!r}")
        await self._turns.wait()
        return type("BulkResult", (), {"modified_count": modified})()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._c, name)
        if not callable(target):
            return target

        turns = self._turns

        async def call(*args: Any, **kwargs: Any) -> Any:
            kwargs.pop("session", None)
            await turns.wait()
            result = target(*args, **kwargs)  # one call, not interrupted: atomic like a server's single write
            await turns.wait()
            return result

        return call


class MemoryDatabase:
    def __init__(self, name: str = "test") -> None:
        import mongomock

        self._db: Any = mongomock.MongoClient(tz_aware=True)[name]
        self.name = name
        self.turns = _Turns()

    def interleave(self, spread: int, seed: int) -> None:
        """From now on each call waits 1 to 1 + `spread` turns before and after its work (drawn from `seed`)."""
        self.turns.interleave(spread, seed)

    def __getitem__(self, name: str) -> MemoryCollection:
        return MemoryCollection(self._db[name], self)

    def __getattr__(self, name: str) -> MemoryCollection:
        return self[name]

    async def command(self, name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        await self.turns.wait()
        if name == "ping":
            return {"ok": 1.0}
        raise NotImplementedError(name)


def memory_database(name: str = "test") -> Any:
    return MemoryDatabase(name)


class MemoryBroker:
    """A fake Kafka: topics are lists; `publish` appends, `deliver` feeds a handler like a consumer would."""

    def __init__(self) -> None:
        self.topics: dict[str, list[Envelope]] = defaultdict(list)
        self.raw: dict[str, list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]] = defaultdict(list)
        self.fail_next: int = 0
        self.started = True

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def publish(self, topic: str, envelope: Envelope) -> None:
        await self.publish_batch([(topic, envelope)])

    async def publish_batch(self, items: list[tuple[str, Envelope]]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("broker unavailable (simulated)")
        for topic, envelope in items:
            # round-trip through the wire format so tests see what a consumer would
            key, value, headers = envelope.to_record()
            self.topics[topic].append(Envelope.from_record(key, value, headers))

    async def send_raw(self, topic: str, *, key: bytes | None, value: bytes | None,
                       headers: list[tuple[str, bytes]]) -> None:
        self.raw[topic].append((key, value, headers))

    async def ping(self, timeout: float = 2.0) -> bool:
        return self.started

    def events(self, topic: str, type_suffix: str | None = None) -> list[Envelope]:
        return [e for e in self.topics[topic] if type_suffix is None or e.type.endswith(type_suffix)]

    async def deliver(self, topic: str, handler: Handler, registry: EventRegistry, *, times: int = 1) -> int:
        """Feed every event of `topic` to `handler`, `times` times over (to prove redelivery is harmless)."""
        count = 0
        for _ in range(times):
            for envelope in list(self.topics[topic]):
                event: DecodedEvent = registry.decode(envelope)
                await handler(event)
                count += 1
        return count
