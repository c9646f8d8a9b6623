"""SSE viewers for benchmarks: many connections per process, each recording when every event frame arrived.

`viewer_main(pipe, host, port, path, count)` is a process's entry point (multiprocessing, "spawn"): it opens `count`
connections to `path` (raw asyncio protocols on uvloop: no task per connection, and the only parsing is a regex
that picks the `id:` line of each frame, `id: <replica>-<seq>`), then speaks over `pipe`:
  -> ("ready", opened, failed)
  <- ("finish", {seq: (sent, acknowledged)}, quiet_seconds)   which events to count, and when each was written
  -> ("result", {...})   latencies from `sent` and from `acknowledged` (array('d') bytes), per event the latency of
                         the last viewer, frames delivered / expected, duplicates, connections the server closed,
                         the process's CPU seconds
After "finish" it waits until every connection has every counted event, or nothing new arrived for quiet_seconds.
All processes read CLOCK_MONOTONIC (time.monotonic), so times taken in different processes compare.
"""

from __future__ import annotations

import asyncio
import re
import resource
import time
from array import array
from multiprocessing.connection import Connection
from typing import cast

CONNECT_CONCURRENCY = 64  # connections being opened at once, per viewer process
ID_LINE = re.compile(rb"^id: [^\n]*-(\d+)$", re.M)  # an SSE frame's id line


def raise_open_files_limit() -> int:
    """Let this process (and what it spawns: rlimits are inherited) hold as many sockets as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = hard if hard != resource.RLIM_INFINITY else 1_048_576
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            pass  # stay with what we have; the figures say how many viewers connected
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class _Receipts:
    """Every id'd frame one viewer process received: which connection, which event (seq), when."""

    def __init__(self) -> None:
        self.conn = array("i")
        self.seq = array("q")
        self.at = array("d")
        self.closed_early = 0


class _Viewer(asyncio.Protocol):
    """One SSE connection; records (connection, seq, time) for each frame with an id line. No task, no JSON."""

    def __init__(self, index: int, receipts: _Receipts, request: bytes, ready: asyncio.Future[bool]) -> None:
        self.index = index
        self.receipts = receipts
        self.request = request
        self.ready = ready
        self.ok = False
        self.stopping = False
        self.tail = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if self.tail:
            data = self.tail + data
        if not self.ok:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.tail = data
                return
            if not data.startswith(b"HTTP/1.1 200"):
                self.tail = b""
                if not self.ready.done():
                    self.ready.set_result(False)
                if self.transport is not None:
                    self.transport.close()
                return
            self.ok = True
            if not self.ready.done():
                self.ready.set_result(True)
            data = data[end + 4:]
        # the body is chunked: chunk-size lines never start with "id: ", and each chunk holds whole frames
        cut = data.rfind(b"\n")
        self.tail = data[cut + 1:]
        if cut < 0:
            return
        r = self.receipts
        for seq in ID_LINE.findall(data, 0, cut + 1):
            r.conn.append(self.index)
            r.seq.append(int(seq))
            r.at.append(now)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_result(False)
        elif self.ok and not self.stopping:
            self.receipts.closed_early += 1


async def _viewers(pipe: Connection, host: str, port: int, path: str, count: int) -> None:
    loop = asyncio.get_running_loop()
    receipts = _Receipts()
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n".encode()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    viewers: list[_Viewer] = []

    async def open_one(index: int) -> bool:
        async with gate:
            ready: asyncio.Future[bool] = loop.create_future()
            try:
                _, viewer = await loop.create_connection(lambda: _Viewer(index, receipts, request, ready), host, port)
                viewers.append(viewer)
                return await asyncio.wait_for(ready, 30)
            except (OSError, TimeoutError):
                return False

    opened = sum(await asyncio.gather(*(open_one(i) for i in range(count))))
    pipe.send(("ready", opened, count - opened))
    # until the driver says which events to count: {seq: (sent, acknowledged)}
    _, sent, quiet = await loop.run_in_executor(None, pipe.recv)
    expected = opened * len(sent)
    matched, position, last_change, deadline = 0, 0, time.monotonic(), time.monotonic() + 120
    while matched < expected and time.monotonic() - last_change < quiet and time.monotonic() < deadline:
        end = len(receipts.seq)
        if end > position:
            matched += sum(1 for s in receipts.seq[position:end] if s in sent)
            position, last_change = end, time.monotonic()
        await asyncio.sleep(0.2)
    for viewer in viewers:
        viewer.stopping = True
        if viewer.transport is not None:
            viewer.transport.close()
    from_send, from_ack = array("d"), array("d")
    last_viewer: dict[int, float] = {}
    seen: set[int] = set()
    duplicates = 0
    for conn, seq, at in zip(receipts.conn, receipts.seq, receipts.at, strict=True):
        times = sent.get(seq)
        if times is None:
            continue
        key = conn << 32 | seq
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        from_send.append(at - times[0])
        from_ack.append(at - times[1])
        last_viewer[seq] = max(last_viewer.get(seq, 0.0), at - times[0])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.sleep(0.2)  # let the closes go out
    pipe.send(("result", {"from_send": from_send.tobytes(), "from_ack": from_ack.tobytes(), "last": last_viewer,
                          "delivered": len(seen), "expected": expected, "duplicates": duplicates,
                          "closed_early": receipts.closed_early, "cpu": usage.ru_utime + usage.ru_stime}))


def viewer_main(pipe: Connection, host: str, port: int, path: str, count: int) -> None:
    raise_open_files_limit()
    import uvloop

    uvloop.run(_viewers(pipe, host, port, path, count))
