"""Group commit for inserts: concurrent `insert_one`s become one `insert_many`, each caller still gets its own
outcome.

A burst of registrations is a burst of single-document inserts, each a command, a round trip and a commit of its
own. The same documents in one insert_many share them: one round trip and one journal (or WAL) commit per batch.

No added wait: the first insert goes out alone at once; inserts that arrive while a batch is in flight form the
next batch. Each insert is still atomic on its own (one document, with its outbox events): the batch is sent
unordered, so one caller's duplicate key fails only that caller.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

DUPLICATE_KEY_CODES = frozenset({11000, 11001})
MAX_BATCH = 500


@dataclass
class _Pending:
    document: dict[str, Any]
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class InsertBatcher:
    """`await batcher.insert(doc)` behaves like `await collection.insert_one(doc)` (DuplicateKeyError on a
    unique-key clash, the driver's error when the server cannot be reached), but concurrent calls share one
    `insert_many(ordered=False)` of at most `max_batch` documents."""

    def __init__(self, collection: Any, *, max_batch: int = 64) -> None:
        # Every caller of a batch waits for the whole batch: past a few hundred documents a bigger batch adds
        # latency to each of them and saves nothing more (the round trip is already shared), so keep it bounded.
        if not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch must be between 1 and {MAX_BATCH}")
        self.collection = collection
        self.max_batch = max_batch
        self._queue: list[_Pending] = []
        self._worker: asyncio.Task[None] | None = None
        self.batches = 0  # how many insert_many calls were made (for tests and metrics)

    async def insert(self, document: dict[str, Any]) -> None:
        pending = _Pending(document)
        # a caller cancelled while waiting never reads the outcome: read it here so asyncio does not complain
        pending.done.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._queue.append(pending)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="insert-batcher")
        # the insert goes ahead even if this caller is cancelled: its document is in a batch already
        await asyncio.shield(pending.done)

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch:]
            try:
                await self._send(batch)
            except BaseException as exc:  # settle every caller, then let a cancellation through
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                if not isinstance(exc, Exception):
                    for pending in self._queue:
                        pending.done.set_exception(RuntimeError("the insert batcher stopped"))
                    self._queue = []
                    raise

    async def _send(self, batch: list[_Pending]) -> None:
        self.batches += 1
        failed: dict[int, Exception] = {}
        try:
            await self.collection.insert_many([p.document for p in batch], ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                index, code = int(error["index"]), int(error.get("code", 0))
                kind = DuplicateKeyError if code in DUPLICATE_KEY_CODES else WriteError
                failed[index] = kind(error.get("errmsg", "write error"), code, error)
        for index, pending in enumerate(batch):
            if pending.done.done():
                continue
            if index in failed:
                pending.done.set_exception(failed[index])
            else:
                pending.done.set_result(None)

    async def close(self) -> None:
        """Wait for what is queued (tests and shutdown)."""
        if self._worker is not None:
            with contextlib.suppress(Exception):
                await self._worker
