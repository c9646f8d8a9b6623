"""The outbox inside the document, and the relay that publishes it.

A handler writes the state change and the events it causes in ONE single-document update: the events ride in the
document's `_outbox` array. The relay publishes them in order and then pulls exactly the published entries. A crash
between the two steps republishes the same event ids, which consumers ignore (they are idempotent on the id), so
nothing is lost and nothing is applied twice. When Kafka is down, writes still succeed and wait here.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from plenary_kit.envelope import Envelope
from plenary_kit.kafka.publisher import Publisher
from plenary_kit.logging import get_logger
from plenary_kit.metrics import OUTBOX_PENDING

log = get_logger("plenary.outbox")
OUTBOX = "_outbox"


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
        self.healthy = True

    def notify(self) -> None:
        """Call after a write that added events: the relay publishes at once instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"outbox:{self._service}")

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task:
            try:
                await asyncio.wait_for(self._task, timeout=10)
            except TimeoutError:
                self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        delay = self._poll
        while not self._stopping.is_set():
            try:
                published = await self.drain_once()
                self.healthy = True
                delay = self._poll
                if published:
                    continue  # more may be waiting
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.healthy = False
                log.warning("outbox_publish_failed", service=self._service, error=str(exc)[:300])
                delay = min(max(delay * 2, 0.5), 10)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass
            self._wake.clear()

    async def drain_once(self) -> int:
        """Publish one batch from every collection; return how many events went out."""
        total = 0
        pending = 0
        for collection in self._collections:
            docs = await collection.find(
                {f"{OUTBOX}.0": {"$exists": True}}, {OUTBOX: 1}
            ).to_list(self._batch)
            if not docs:
                continue
            items: list[tuple[str, Envelope]] = []
            pulls: list[UpdateOne] = []
            for doc in docs:
                entries = doc.get(OUTBOX) or []
                items.extend(Envelope.from_doc(e) for e in entries)
                # $pullAll of the entries exactly as read: FerretDB has no $pull by condition on sub-documents
                pulls.append(UpdateOne({"_id": doc["_id"]}, {"$pullAll": {OUTBOX: entries}}))
            pending += len(items)
            await self._publisher.publish_batch(items)
            await collection.bulk_write(pulls, ordered=False)
            total += len(items)
        OUTBOX_PENDING.labels(service=self._service).set(max(pending - total, 0))
        return total
