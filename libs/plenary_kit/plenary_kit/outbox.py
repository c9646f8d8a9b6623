"""The outbox inside the document, and the relay that publishes it.

A handler writes the state change and the events it causes in ONE single-document update: the events ride in the
document's `_outbox` array. The relay publishes them in order and then pulls exactly the published entries. A crash
between the two steps republishes the same event ids, which consumers ignore (they are idempotent on the id), so
nothing is lost and nothing is applied twice. When Kafka is down, writes still succeed and wait here.

Two ways to find what to publish:
- `notify()` (no arguments) and the idle poll scan every collection for documents with a non-empty outbox.
- `notify(doc_id, events)` hands the relay what a write just stored: it publishes those events and pulls them from
  that one document by `_id`, with no scan. On FerretDB 1.24 (SQLite) every query but an `_id` lookup reads and
  decodes the whole collection, so a large collection should use this, with a long `poll_seconds`: the scan then
  only runs at start, after a failure and every `poll_seconds`, to pick up what a crash (or another process)
  left behind.

Clearing is deferred: once a batch is acknowledged by Kafka its ids are remembered in memory and a separate
janitor task pulls them from their documents at whatever pace the database allows. On FerretDB 1.24 an update
costs a pass over the whole collection, so clearing in the publish path would cap the write rate; deferred, it
only delays the cleanup. Scans skip what this process already published; after a restart anything not yet cleared
is published again, which consumers ignore.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from plenary_kit.envelope import Envelope
from plenary_kit.kafka.publisher import Publisher
from plenary_kit.logging import get_logger
from plenary_kit.metrics import OUTBOX_PENDING
from plenary_kit.tasks import stop_task, wait_event

log = get_logger("plenary.outbox")
OUTBOX = "_outbox"
# FerretDB 1.24 (SQLite) never answers an `update` command of 100 or more statements: send fewer per command
MAX_UPDATES_PER_COMMAND = 50
CLEAR_WHEN_QUIET_SECONDS = 1.0


def outbox_entries(events: list[tuple[str, Envelope]]) -> list[dict[str, Any]]:
    return [env.to_doc(topic) for topic, env in events]


def outbox_push(events: list[tuple[str, Envelope]]) -> dict[str, Any]:
    """The `$push` fragment that appends events to a document's outbox in an update."""
    return {OUTBOX: {"$each": outbox_entries(events)}}


class OutboxRelay:
    def __init__(
        self,
        collections: list[AsyncCollection[Any]],
        publisher: Publisher,
        *,
        service: str,
        poll_seconds: float = 1.0,
        batch_size: int = 500,
    ) -> None:
        self._collections = collections
        self._publisher = publisher
        self._service = service
        self._poll = poll_seconds
        self._batch = batch_size
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._scan_requested = True  # the first pass scans: it picks up what an earlier process left behind
        self._scan_was_full = False
        # collection name -> document id -> the outbox entries that writes stored (in write order)
        self._hints: dict[str, dict[Any, list[dict[str, Any]]]] = {}
        # published but not yet pulled from their documents: (collection, doc id, entries), and their event ids
        self._to_clear: list[tuple[AsyncCollection[Any], Any, list[dict[str, Any]]]] = []
        self._published_ids: set[str] = set()
        self._clear_wake = asyncio.Event()
        self._janitor: asyncio.Task[None] | None = None
        self._last_publish = 0.0
        self.healthy = True

    def notify(self, doc_id: Any = None, events: list[tuple[str, Envelope]] | None = None, *,
               collection: str | None = None) -> None:
        """Call after a write that added events: the relay publishes at once instead of at the next poll.

        Without arguments the relay scans every collection. With the document's id and the events the write stored
        (exactly as given to `outbox_entries`/`outbox_push`), it publishes those and pulls them from that document
        by `_id`, without a scan. `collection` names the collection when the relay watches more than one.
        """
        if doc_id is None or not events:
            self._scan_requested = True
            self._wake.set()
        else:
            self.notify_entries(doc_id, outbox_entries(events), collection=collection)

    def notify_entries(self, doc_id: Any, entries: list[dict[str, Any]], *, collection: str | None = None) -> None:
        """`notify(doc_id, events)` for a write that stored ready-made outbox entries (`Envelope.to_doc`), exactly
        the dicts it pushed. Nothing to publish (no entries): nothing happens."""
        if not entries:
            return
        if collection is None:
            if len(self._collections) != 1:
                raise ValueError("notify(doc_id, events) needs collection= when the relay watches several")
            collection = self._collections[0].name
        self._hints.setdefault(collection, {}).setdefault(doc_id, []).extend(entries)
        self._wake.set()

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"outbox:{self._service}")
        self._janitor = asyncio.create_task(self._clear_loop(), name=f"outbox-janitor:{self._service}")

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        await stop_task(self._task, 10)
        self._task = None
        self._clear_wake.set()
        await stop_task(self._janitor, 5)
        self._janitor = None

    @property
    def uncleared(self) -> int:
        return len(self._published_ids)

    async def _clear_loop(self) -> None:
        while not self._stopping.is_set():
            # clear only while no new events are being published: on FerretDB an update holds the database for a
            # pass over the collection, so clearing during a burst would slow down the writes that feed it
            busy_for = CLEAR_WHEN_QUIET_SECONDS - (time.monotonic() - self._last_publish)
            if self._to_clear and busy_for > 0:
                await asyncio.sleep(busy_for)
                continue
            if not self._to_clear:
                self._clear_wake.clear()
                await wait_event(self._clear_wake, self._poll)
                continue
            try:
                await self.clear_published()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox_clear_failed", service=self._service, error=str(exc)[:300])
                await asyncio.sleep(1)

    async def clear_published(self, limit: int = MAX_UPDATES_PER_COMMAND) -> int:
        """Pull up to `limit` published entries from their documents (oldest first); return how many docs."""
        batch, self._to_clear = self._to_clear[:limit], self._to_clear[limit:]
        by_collection: dict[str, tuple[AsyncCollection[Any], list[UpdateOne]]] = {}
        for collection, doc_id, entries in batch:
            pulls = by_collection.setdefault(collection.name, (collection, []))[1]
            pulls.append(UpdateOne({"_id": doc_id}, {"$pullAll": {OUTBOX: entries}}))
        try:
            for collection, pulls in by_collection.values():
                await collection.bulk_write(pulls, ordered=False)
        except BaseException:
            self._to_clear[:0] = batch  # try again later; nothing is lost
            raise
        for _, _, entries in batch:
            self._published_ids.difference_update(entry["id"] for entry in entries)
        return len(batch)

    async def _run(self) -> None:
        delay = self._poll
        next_scan = 0.0
        while not self._stopping.is_set():
            try:
                published = await self.drain_hinted() if self._hints else 0
                now = time.monotonic()
                # The periodic scan (a safety net for lost hints) waits while hinted writes flow, up to ten
                # periods: on FerretDB it reads the whole collection, and the hinted events would wait behind it.
                quiet = now - self._last_publish >= CLEAR_WHEN_QUIET_SECONDS
                if self._scan_requested or (now >= next_scan and (quiet or now >= next_scan + 9 * self._poll)):
                    self._scan_requested = False
                    scanned = await self.drain_once()
                    published += scanned
                    # Scan again at once only when a batch was full (more is waiting). A scan during a burst
                    # finds writes whose hints are on their way; rescanning for those would read the whole
                    # collection over and over (on FerretDB every such query does).
                    next_scan = 0.0 if self._scan_was_full else time.monotonic() + self._poll
                self.healthy = True
                delay = self._poll
                if published:
                    continue  # more may be waiting
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._scan_requested = True  # what failed is still in the documents: the next pass scans for it
                self.healthy = False
                log.warning("outbox_publish_failed", service=self._service, error=str(exc)[:300])
                delay = min(max(delay * 2, 0.5), 10)
            # After a failure, wait out the back-off even though writes keep calling notify(): retrying on every
            # write would hammer the broker and re-read the database while Kafka is down.
            wake = self._stopping if not self.healthy else self._wake
            try:
                await asyncio.wait_for(wake.wait(), timeout=delay)
            except TimeoutError:
                pass
            self._wake.clear()

    async def flush(self) -> int:
        """Publish everything waiting (hints, then scans) and clear it from the documents; return how many events
        went out. For tests and shutdown paths: the running relay does the same in the background."""
        total = await self.drain_hinted()
        while published := await self.drain_once():
            total += published
        while self._to_clear:
            await self.clear_published()
        return total

    async def drain_once(self) -> int:
        """Publish one batch from every collection (a scan); return how many events went out."""
        total = 0
        self._scan_was_full = False
        for collection in self._collections:
            found: list[tuple[Any, list[dict[str, Any]]]] = []
            async for doc in collection.find({f"{OUTBOX}.0": {"$exists": True}}, {OUTBOX: 1}):
                # skip what this process published already (its clearing may still be waiting)
                entries = [e for e in doc.get(OUTBOX) or [] if e["id"] not in self._published_ids]
                if entries:
                    found.append((doc["_id"], entries))
                if len(found) >= self._batch:
                    self._scan_was_full = True
                    break
            total += await self._publish(collection, found)
        OUTBOX_PENDING.labels(service=self._service).set(len(self._published_ids))
        return total

    async def drain_hinted(self) -> int:
        """Publish what `notify(doc_id, events)` and `notify_entries` handed over, without reading the collections."""
        hints, self._hints = self._hints, {}
        total = 0
        for collection in self._collections:
            by_doc = list(hints.pop(collection.name, {}).items())
            for start in range(0, len(by_doc), self._batch):
                chunk = by_doc[start:start + self._batch]
                total += await self._publish(collection, chunk)
        return total

    async def _publish(self, collection: AsyncCollection[Any], docs: list[tuple[Any, list[dict[str, Any]]]]) -> int:
        """Publish the entries of each (document id, entries), in order, then pull exactly those entries."""
        docs = [(doc_id, entries) for doc_id, entries in docs if entries]
        if not docs:
            return 0
        items = [Envelope.from_doc(entry) for _, entries in docs for entry in entries]
        await self._publisher.publish_batch(items)
        # the entries exactly as stored: FerretDB has no $pull by condition on sub-documents
        self._last_publish = time.monotonic()
        for doc_id, entries in docs:
            self._to_clear.append((collection, doc_id, entries))
            self._published_ids.update(entry["id"] for entry in entries)
        self._clear_wake.set()
        # a scan may have published events that are still waiting as hints: do not send them twice
        waiting = self._hints.get(collection.name)
        if waiting:
            sent = {entry["id"] for _, entries in docs for entry in entries}
            for doc_id, _ in docs:
                if doc_id in waiting:
                    left = [entry for entry in waiting[doc_id] if entry["id"] not in sent]
                    if left:
                        waiting[doc_id] = left
                    else:
                        del waiting[doc_id]
        return len(items)
