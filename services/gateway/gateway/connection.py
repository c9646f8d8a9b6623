"""One SSE client of the hub (gateway/hub.py): its bounded queue, and the writes the hub does for it.

The hub queues frames with `push` and, right after, `flush`es: the connection's ASGI `send` is started by hand
(`coro.send(None)`) and almost always completes at once. Only a write that has to wait for the client gets a task
to finish in (`_Rest` resumes the coroutine where the hand-driven start left off); what is published meanwhile waits
in the queue and follows in one write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Generator, Iterable
from typing import Any

from plenary_kit.logging import get_logger

log = get_logger("gateway.live")
Writer = Callable[[bytes], Coroutine[Any, Any, None]]


class _Rest:
    """Awaits the rest of a coroutine that was started by hand (`coro.send(None)`) and suspended on `pending`:
    what a Task does, resumed where the hand-driven start left off."""

    __slots__ = ("coro", "pending")

    def __init__(self, coro: Coroutine[Any, Any, None], pending: Any) -> None:
        self.coro = coro
        self.pending = pending

    def __await__(self) -> Generator[Any, None, None]:
        coro, value = self.coro, self.pending
        while True:
            try:
                yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                try:
                    value = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    value = coro.send(None)
                except StopIteration:
                    return


class Connection:
    """One SSE client: its channels, the stream's writer once attached, and a bounded queue of frames waiting."""

    __slots__ = (
        "_busy",
        "_ended",
        "_items",
        "_schedule",
        "_wake",
        "_writer",
        "channels",
        "closed",
        "dropped",
        "expires_at",
        "limit",
        "reason",
        "task",
        "writing",
    )

    def __init__(self, channels: Iterable[str], *, limit: int, expires_at: float | None = None) -> None:
        self.channels = tuple(channels)
        self.limit = limit
        self.expires_at = expires_at
        self.closed = False
        self.dropped = False
        self.writing = False  # the stream's own task is in a write (its first or its last)
        self.reason = ""
        self.task: asyncio.Task[Any] | None = None  # the stream's task
        self._items: list[bytes] = []
        self._wake = asyncio.Event()
        self._writer: Writer | None = None
        self._schedule: Callable[[Connection], None] | None = None  # asks the hub to flush this connection
        self._busy: asyncio.Task[None] | None = None  # finishing a write that had to wait for the client
        self._ended: asyncio.Future[None] | None = None

    @property
    def pending(self) -> int:
        return len(self._items)

    @property
    def sending(self) -> bool:
        """A write to this client is under way (and may be stuck on a client that does not read)."""
        return self.writing or self._busy is not None

    def push(self, frame: bytes) -> bool:
        """Queue a frame (a served connection is then flushed soon); False when the queue is full (the caller
        drops the connection)."""
        if self.closed:
            return True
        if len(self._items) >= self.limit:
            return False
        self._items.append(frame)
        if len(self._items) == 1:
            if self._schedule is not None:
                if self._busy is None:
                    self._schedule(self)
            else:
                self._wake.set()
        return True

    def flush(self) -> None:
        """Write everything queued now, in one write (the hub's flush calls this)."""
        if self._items and self._writer is not None and self._busy is None and not self.closed:
            self._write(self._take())

    def _write(self, data: bytes) -> None:
        """Start the write by hand; only if it suspends does it get a task to finish in."""
        assert self._writer is not None
        coro = self._writer(data)
        try:
            pending = coro.send(None)
        except StopIteration:
            return
        except Exception as exc:  # the client is gone or the response is over: end the stream
            log.info("live_write_failed", error=f"{type(exc).__name__}: {exc}")
            self._writer = None
            self.close("write failed")
            return
        self._busy = asyncio.get_running_loop().create_task(self._finish(coro, pending))

    async def _finish(self, coro: Coroutine[Any, Any, None], pending: Any) -> None:
        try:
            await _Rest(coro, pending)
            while self._items and not self.closed and self._writer is not None:
                chunk = b"".join(self._items)
                self._items.clear()
                await self._writer(chunk)
        except Exception as exc:
            log.info("live_write_failed", error=f"{type(exc).__name__}: {exc}")
            self._writer = None
            self.close("write failed")
        finally:
            self._busy = None

    async def serve(self, writer: Writer, schedule: Callable[[Connection], None]) -> None:
        """Be this connection's stream: write what is queued, let the hub write directly (`schedule` asks it to
        flush this connection) until the connection closes, then write what is left (nothing when it was
        dropped). Runs in the stream's task."""
        self.task = asyncio.current_task()
        self._ended = asyncio.get_running_loop().create_future()
        while self._items and not self.closed:
            await self._own_write(writer, self._take())
        try:
            if not self.closed:
                self._writer, self._schedule = writer, schedule
                await self._ended
        finally:
            self._writer = self._schedule = None
        busy = self._busy
        if busy is not None:  # a write that had to wait: let it end (a dropped connection's was cancelled)
            await asyncio.gather(busy, return_exceptions=True)
        if not self.dropped and self._items:
            await self._own_write(writer, self._take())

    async def _own_write(self, writer: Writer, chunk: bytes) -> None:
        self.writing = True
        try:
            await writer(chunk)
        finally:
            self.writing = False

    def _take(self) -> bytes:
        chunk = b"".join(self._items)
        self._items.clear()
        return chunk

    async def next_chunk(self) -> bytes | None:
        """Everything queued, as one write; None once the connection is closed and drained. (For a connection
        that no stream serves: tests, tools.)"""
        while not self._items:
            if self.closed:
                return None
            self._wake.clear()
            await self._wake.wait()
        return self._take()

    def close(self, reason: str, final: bytes | None = None) -> None:
        """End the stream after what is queued (plus `final`, e.g. a goodbye event)."""
        if self.closed:
            return
        if final is not None:
            self._items.append(final)
        self.closed = True
        self.reason = reason
        self._wake.set()
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)

    def drop(self) -> None:
        """Give up on a client that does not keep up: forget its queue, end its stream now."""
        self._items.clear()
        self.dropped = True
        self.close("slow client")
        if self._busy is not None:
            self._busy.cancel()  # it is blocked writing to a client that does not read
        if self.writing and self.task is not None:
            self.task.cancel()
