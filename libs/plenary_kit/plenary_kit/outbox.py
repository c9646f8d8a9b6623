"""The outbox inside the document, and the relay that publishes it; safe with several replicas on one database.

A handler writes the state change and the events it causes in ONE single-document update: the events ride in the
document's `_outbox` array (each entry carries its event id and event time). The relay publishes a document's
entries in array order, and once Kafka has acknowledged them pulls exactly those entries from that document
(`$pullAll` by `_id`, one update per document, sent together in a `bulk_write`). When Kafka is down, writes still
succeed and the events wait in the documents.

Who publishes what (two or more replicas, each with a relay over the same collections). One rule: a relay
publishes a document's outbox only while it holds that document's claim. A claim is one small document in the
`outbox_claims` collection of the same database, `_id: {c: <collection>, d: <document id>}`, `by: <relay>`,
`until: <lease end>`, taken with ONE conditional single-document upsert: it matches only an expired claim (or
this relay's own), and when a live claim of another relay exists the upsert's insert fails on the unique `_id`,
so exactly one relay wins. The winner reads the document by `_id`, publishes its whole outbox in order, pulls what
it published and deletes its claim. Claims live beside the documents, not inside them, so the services' reads and
their guarded updates never see or race a relay field.
- Hinted path: a write hands its own relay what it stored (`notify(doc_id, events, collection=...)`,
  `notify_entries`). That relay claims the document at once and publishes, so an event usually goes out a few
  milliseconds after its write. When another relay holds the claim, the hint waits and is tried again shortly
  (by then the holder has usually published those entries too, and nothing is left to do).
- Scans: `notify()` with no arguments, the first pass after start and the pass after a failure scan for every
  document with an outbox entry; the periodic scan (every `poll_seconds`) only for documents with an entry older
  than `grace_seconds` (default 10 s): orphans of a crashed replica, or of a lost hint. It leaves fresh entries to
  the relay that wrote them, so two relays do not fight over a burst. Scans go through the claim like hints do.
  A scan is a range read of the index `ensure_outbox_index` creates on the entries' event time (the relay
  creates it at start), so it reads only documents that wait, never a whole collection.
Because one relay at a time publishes a document and clears what it published before it lets go, events of one
document go out in the order they were written, across replicas too.

What can still be published twice (consumers dedupe on the event id, as they must with Kafka anyway):
- a crash, or a failed clear, after Kafka acknowledged a batch and before the entries were pulled: the next
  holder publishes the same ids again (only those);
- a relay that stalls for longer than its lease (`lease_seconds`, default 30 s, three times the producer's request
  timeout) while it publishes: another relay may take the expired claim and publish the same entries;
- clocks of the replicas that disagree by more than the lease (leases are compared with the local clock).
Nothing is lost: an entry leaves its document only after Kafka acknowledged it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from plenary_kit.envelope import Envelope
from plenary_kit.kafka.publisher import Publisher
from plenary_kit.logging import get_logger
from plenary_kit.metrics import OUTBOX_PENDING
from plenary_kit.tasks import stop_task, wait_event

log = get_logger("plenary.outbox")
OUTBOX = "_outbox"
CLAIMS = "outbox_claims"  # one per database: the relays' claims on documents whose outbox they are publishing
INDEX_NAME = "plenary_outbox_time"
GRACE_SECONDS = 10.0
LEASE_SECONDS = 30.0
HINT_RETRY_SECONDS = 0.05  # a hint whose document another relay holds is tried again after this long
INDEX_RETRY_SECONDS = 60.0
CLAIMS_AT_ONCE = 32  # claim upserts in flight together (each is one round trip)
EVERYTHING = datetime(9999, 12, 31, tzinfo=UTC)  # a scan cutoff later than any event time


def outbox_entries(events: list[tuple[str, Envelope]]) -> list[dict[str, Any]]:
    return [env.to_doc(topic) for topic, env in events]


def outbox_push(events: list[tuple[str, Envelope]]) -> dict[str, Any]:
    """The `$push` fragment that appends events to a document's outbox in an update."""
    return {OUTBOX: {"$each": outbox_entries(events)}}


def outbox_scan_filter(older_than: datetime = EVERYTHING) -> dict[str, Any]:
    """The relay's scan: documents with an outbox entry whose event time is before `older_than`; a range of the
    index `ensure_outbox_index` creates (documents without entries have no date in it)."""
    return {f"{OUTBOX}.time": {"$lt": older_than}}


async def ensure_outbox_index(collection: AsyncCollection[Any]) -> None:
    """Create the index the relay's scans use, on the outbox entries' event time (idempotent). The relay calls it
    for each of its collections when it starts; a service may call it beside its own indexes."""
    await collection.create_index([(f"{OUTBOX}.time", ASCENDING)], name=INDEX_NAME)


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class OutboxRelay:
    def __init__(
        self,
        collections: list[AsyncCollection[Any]],
        publisher: Publisher,
        *,
        service: str,
        poll_seconds: float = 1.0,
        batch_size: int = 500,
        grace_seconds: float = GRACE_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._collections = collections
        self._publisher = publisher
        self._service = service
        self._poll = poll_seconds
        self._batch = batch_size
        self._grace = timedelta(seconds=grace_seconds)
        self._lease = timedelta(seconds=lease_seconds)
        self._clock = clock or (lambda: datetime.now(UTC))
        self.relay_id = f"{service}:{uuid.uuid4().hex}"  # what its claims say in `by`
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._scan_requested = True  # the first pass scans everything: what an earlier process left behind
        # collection name -> document id -> the outbox entries writes stored there and told this relay about
        self._hints: dict[str, dict[Any, list[dict[str, Any]]]] = {}
        self._scan_waiting = 0  # entries the last scan found and did not publish
        self.healthy = True

    # -- what writes call ------------------------------------------------------------------------------------
    def notify(self, doc_id: Any = None, events: list[tuple[str, Envelope]] | None = None, *,
               collection: str | None = None) -> None:
        """Call after a write that added events: the relay publishes at once instead of at the next poll.

        Without arguments the relay scans every collection for waiting entries. With the document's id and the
        events the write stored (exactly as given to `outbox_entries`/`outbox_push`) it publishes that document's
        outbox, found by `_id`. `collection` names the collection when the relay watches more than one.
        """
        if doc_id is None or not events:
            self._scan_requested = True
            self._wake.set()
        else:
            self.notify_entries(doc_id, outbox_entries(events), collection=collection)

    def notify_entries(self, doc_id: Any, entries: list[dict[str, Any]], *, collection: str | None = None) -> None:
        """`notify(doc_id, events)` for a write that stored ready-made outbox entries (`Envelope.to_doc`). Nothing
        stored (no entries): nothing happens."""
        if not entries:
            return
        if collection is None:
            if len(self._collections) != 1:
                raise ValueError("notify(doc_id, events) needs collection= when the relay watches several")
            collection = self._collections[0].name
        self._hints.setdefault(collection, {}).setdefault(doc_id, []).extend(entries)
        self._wake.set()

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"outbox:{self._service}")

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        await stop_task(self._task, 10)
        self._task = None

    @property
    def pending(self) -> int:
        """Events waiting to be published, as far as this relay knows: hinted and not yet published by this
        process, plus what its last scan found and did not publish (the `plenary_outbox_pending` gauge)."""
        return sum(len(entries) for docs in self._hints.values() for entries in docs.values()) + self._scan_waiting

    def _report(self) -> None:
        OUTBOX_PENDING.labels(service=self._service).set(self.pending)

    async def _run(self) -> None:
        delay = self._poll
        next_scan = 0.0
        next_index: float | None = 0.0
        while not self._stopping.is_set():
            if next_index is not None and time.monotonic() >= next_index:
                next_index = await self._ensure_indexes()
            try:
                published = await self.drain_hinted() if self._hints else 0
                if self._scan_requested or time.monotonic() >= next_scan:
                    everything, self._scan_requested = self._scan_requested, False
                    scanned = await self.drain_once(0.0 if everything else self._grace.total_seconds())
                    published += scanned
                    # a scan that published something may have stopped at a full batch: scan again at once
                    self._scan_requested = everything and scanned > 0
                    next_scan = 0.0 if scanned else time.monotonic() + self._poll
                self.healthy = True
                delay = self._poll
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._scan_requested = True  # what failed is still in the documents: the next pass scans for it
                self.healthy = False
                published = 0
                log.warning("outbox_publish_failed", service=self._service, error=str(exc)[:300])
                delay = min(max(delay * 2, 0.5), 10)
            if published:
                continue  # more may be waiting
            if not self.healthy:
                # wait out the back-off even though writes keep calling notify(): retrying on every write would
                # hammer the broker while Kafka is down
                await wait_event(self._stopping, delay)
            else:
                # hints whose document another relay holds are tried again soon
                await wait_event(self._wake, min(delay, HINT_RETRY_SECONDS) if self._hints else delay)
            self._wake.clear()

    async def _ensure_indexes(self) -> float | None:
        """Create the scan index on every collection; when that fails, when to try again (None: done)."""
        try:
            for collection in self._collections:
                await ensure_outbox_index(collection)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the relay still works without it, a scan is just slower
            log.warning("outbox_index_failed", service=self._service, error=str(exc)[:300])
            return time.monotonic() + INDEX_RETRY_SECONDS
        return None

    # -- the passes (the running relay makes them in the background; tests call them directly) ---------------
    async def flush(self) -> int:
        """Publish everything waiting (hints, then scans of every age); return how many events went out. For
        tests and shutdown paths: the running relay does the same in the background."""
        total = await self.drain_hinted()
        while published := await self.drain_once():
            total += published
        return total

    async def drain_hinted(self) -> int:
        """Publish the documents that `notify(doc_id, events)` and `notify_entries` named; return how many events
        went out. A hint whose document another relay holds stays for the next pass; a hint older than the grace
        period is dropped (the periodic scan takes those)."""
        hints, self._hints = self._hints, {}
        cutoff = self._clock() - self._grace
        total = 0
        for collection in self._collections:
            todo = [(doc_id, entries) for doc_id, entries in hints.pop(collection.name, {}).items()
                    if not self._older_than(entries, cutoff)]
            while todo:
                chunk, todo = todo[:self._batch], todo[self._batch:]
                try:
                    published, busy = await self._publish_claimed(collection, [doc_id for doc_id, _ in chunk])
                except BaseException:
                    # nothing is lost (the documents keep their entries): the next pass tries again
                    self._rehint(collection.name, chunk + todo)
                    for other in self._collections:
                        self._rehint(other.name, list(hints.pop(other.name, {}).items()))
                    self._report()
                    raise
                total += len(published)
                self._rehint(collection.name, [(doc_id, entries) for doc_id, entries in chunk if doc_id in busy])
        for name in hints:
            log.warning("outbox_hint_for_unknown_collection", service=self._service, collection=name)
        self._report()
        return total

    @staticmethod
    def _older_than(entries: list[dict[str, Any]], cutoff: datetime) -> bool:
        times = [t for t in (_utc(entry.get("time")) for entry in entries) if t is not None]
        return bool(times) and max(times) < cutoff

    def _rehint(self, name: str, docs: list[tuple[Any, list[dict[str, Any]]]]) -> None:
        for doc_id, entries in docs:
            waiting = self._hints.setdefault(name, {}).setdefault(doc_id, [])
            waiting[:0] = entries

    async def drain_once(self, older_than_seconds: float = 0.0) -> int:
        """Scan every collection for documents with an outbox entry older than `older_than_seconds` (0: any) and
        publish one batch of them; return how many events went out."""
        cutoff = self._clock() - timedelta(seconds=older_than_seconds) if older_than_seconds > 0 else EVERYTHING
        found: set[str] = set()
        sent: set[str] = set()
        try:
            for collection in self._collections:
                docs = await collection.find(outbox_scan_filter(cutoff), {f"{OUTBOX}.id": 1}).limit(
                    self._batch).to_list(None)
                found.update(entry["id"] for doc in docs for entry in doc.get(OUTBOX) or [])
                if docs:
                    published, _ = await self._publish_claimed(collection, [doc["_id"] for doc in docs])
                    sent |= published
        finally:
            hinted = {entry["id"] for docs in self._hints.values() for entries in docs.values() for entry in entries}
            self._scan_waiting = len(found - sent - hinted)  # hinted ones are counted as such
            self._report()
        return len(sent)

    # -- claim, publish, clear, release ----------------------------------------------------------------------
    def _claim_key(self, collection: AsyncCollection[Any], doc_id: Any) -> dict[str, Any]:
        return {"c": collection.name, "d": doc_id}

    async def _claim(self, collection: AsyncCollection[Any], doc_id: Any) -> bool:
        """Take the document's claim with one conditional upsert: it updates an expired claim (or ours) and
        otherwise inserts one, which the unique `_id` refuses while another relay's claim is live."""
        now = self._clock()
        try:
            await collection.database[CLAIMS].update_one(
                {"_id": self._claim_key(collection, doc_id), "$or": [{"until": {"$lte": now}}, {"by": self.relay_id}]},
                {"$set": {"by": self.relay_id, "until": now + self._lease}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def _release(self, collection: AsyncCollection[Any], doc_ids: list[Any]) -> None:
        keys = [self._claim_key(collection, doc_id) for doc_id in doc_ids]
        try:
            await collection.database[CLAIMS].delete_many({"_id": {"$in": keys}, "by": self.relay_id})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the claims expire on their own
            log.warning("outbox_release_failed", service=self._service, error=str(exc)[:300])

    async def _publish_claimed(self, collection: AsyncCollection[Any], doc_ids: list[Any]) -> tuple[set[str], set[Any]]:
        """Claim each document, publish the outboxes of those claimed in order, pull what was published and let
        go. Returns the ids of the events that went out and those of the documents another relay holds."""
        claimed: list[Any] = []
        busy: set[Any] = set()
        for start in range(0, len(doc_ids), CLAIMS_AT_ONCE):
            some = doc_ids[start:start + CLAIMS_AT_ONCE]
            won = await asyncio.gather(*(self._claim(collection, doc_id) for doc_id in some), return_exceptions=True)
            claimed += [doc_id for doc_id, ok in zip(some, won, strict=True) if ok is True]
            busy.update(doc_id for doc_id, ok in zip(some, won, strict=True) if ok is False)
            failed = [error for error in won if isinstance(error, BaseException)]
            if failed:
                await self._release(collection, claimed)
                raise failed[0]
        if not claimed:
            return set(), busy
        try:
            docs = await collection.find({"_id": {"$in": claimed}}, {OUTBOX: 1}).to_list(None)
            found = [(doc["_id"], doc[OUTBOX]) for doc in docs if doc.get(OUTBOX)]
            if not found:
                return set(), busy
            await self._publisher.publish_batch([Envelope.from_doc(entry) for _, entries in found for entry in entries])
            # exactly the entries as read: whatever was pushed since stays for the next holder
            await collection.bulk_write(
                [UpdateOne({"_id": doc_id}, {"$pullAll": {OUTBOX: entries}}) for doc_id, entries in found],
                ordered=False,
            )
        finally:
            await self._release(collection, claimed)
        return {entry["id"] for _, entries in found for entry in entries}, busy
