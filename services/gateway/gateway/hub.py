"""The in-memory fan-out of live events to SSE connections.

Each event is serialised once into an SSE frame (`id: <replica>-<seq>`) that every matching connection shares;
publishing appends a reference to each connection's bounded queue and wakes it, nothing more, so one process can
feed 10,000 connections. A connection's task sends everything queued in one write. A connection whose queue is
full (a client that does not read) is dropped: it may reconnect with Last-Event-ID and be replayed from the
per-channel ring buffers, or, if those no longer reach back far enough, it receives a `reset` event and refetches.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from plenary_kit.logging import get_logger
from plenary_kit.problems import ProblemError

from gateway import sse
from gateway.metrics import (
    EVENTS_FANNED_OUT,
    LIVE_REPLAYED,
    LIVE_RESETS,
    SLOW_CLIENTS_DROPPED,
    SSE_CONNECTIONS,
)

log = get_logger("gateway.live")
PING = sse.comment("ping")


class Connection:
    """One SSE client: its channels and a bounded queue of frames waiting to be written."""

    __slots__ = (
        "_items",
        "_wake",
        "channels",
        "closed",
        "dropped",
        "expires_at",
        "limit",
        "reason",
        "sending",
        "task",
    )

    def __init__(self, channels: Iterable[str], *, limit: int, expires_at: float | None = None) -> None:
        self.channels = tuple(channels)
        self.limit = limit
        self.expires_at = expires_at
        self.closed = False
        self.dropped = False
        self.sending = False
        self.reason = ""
        self.task: asyncio.Task[object] | None = None
        self._items: list[bytes] = []
        self._wake = asyncio.Event()

    @property
    def pending(self) -> int:
        return len(self._items)

    def push(self, frame: bytes) -> bool:
        """Queue a frame; False when the queue is full (the caller drops the connection)."""
        if self.closed:
            return True
        if len(self._items) >= self.limit:
            return False
        self._items.append(frame)
        if len(self._items) == 1:
            self._wake.set()
        return True

    async def next_chunk(self) -> bytes | None:
        """Everything queued, as one write; None once the connection is closed and drained."""
        while not self._items:
            if self.closed:
                return None
            self._wake.clear()
            await self._wake.wait()
        chunk = b"".join(self._items)
        self._items.clear()
        return chunk

    def close(self, reason: str, final: bytes | None = None) -> None:
        """End the stream after what is queued (plus `final`, e.g. a goodbye event)."""
        if self.closed:
            return
        if final is not None:
            self._items.append(final)
        self.closed = True
        self.reason = reason
        self._wake.set()

    def drop(self) -> None:
        """Give up on a client that does not keep up: forget its queue, end its stream now."""
        self._items.clear()
        self.dropped = True
        self.close("slow client")
        if self.sending and self.task is not None:
            self.task.cancel()  # it is blocked writing to a client that does not read


@dataclass
class _Buffer:
    frames: deque[tuple[int, bytes]]
    truncated_upto: int = 0  # the highest seq that fell out of this buffer


@dataclass
class LiveHub:
    replica_id: str
    queue_size: int = 1000
    replay_size: int = 200
    max_buffered_channels: int = 50_000
    max_buffered_frames: int = 100_000
    max_connections: int = 20_000
    clock: Callable[[], float] = time.time
    # channels whose every event is a whole snapshot (the facts): a new listener gets the latest at once
    snapshot_channels: frozenset[str] = frozenset({"facts"})
    seq: int = 0
    connections: set[Connection] = field(default_factory=set)
    _subs: dict[str, set[Connection]] = field(default_factory=dict)
    _buffers: OrderedDict[str, _Buffer] = field(default_factory=OrderedDict)
    _evicted_upto: int = 0  # the highest seq held by a channel buffer that was evicted altogether
    _buffered_frames: int = 0

    # -- subscribers -----------------------------------------------------------------------------------
    def connect(self, channels: list[str], *, last_event_id: str | None = None,
                expires_at: float | None = None) -> Connection:
        """Register a connection and queue its replay (or reset) and a `ready` event, atomically: nothing
        published in between can be missed or duplicated."""
        if len(self.connections) >= self.max_connections:
            raise ProblemError(503, "The live service is at capacity; try again in a few seconds.",
                               headers={"Retry-After": "5"})
        replay, complete = self._replay(channels, last_event_id) if last_event_id else ([], False)
        if not complete:  # a channel whose events are whole snapshots starts with its latest one
            for name in channels:
                buffer = self._buffers.get(name) if name in self.snapshot_channels else None
                if buffer is not None and buffer.frames:
                    replay.append(buffer.frames[-1][1])
        conn = Connection(channels, limit=self.queue_size + len(replay), expires_at=expires_at)
        for frame in replay:
            conn.push(frame)
        conn.push(sse.frame(b'{"channels":' + _json_list(channels) + b"}", event="ready", id=self.last_id))
        for name in conn.channels:
            self._subs.setdefault(name, set()).add(conn)
        self.connections.add(conn)
        SSE_CONNECTIONS.set(len(self.connections))
        return conn

    def disconnect(self, conn: Connection) -> None:
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        for name in conn.channels:
            subs = self._subs.get(name)
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self._subs[name]
        SSE_CONNECTIONS.set(len(self.connections))

    def subscribers(self, channel: str) -> int:
        return len(self._subs.get(channel, ()))

    @property
    def last_id(self) -> str:
        return f"{self.replica_id}-{self.seq}"

    # -- fan-out ---------------------------------------------------------------------------------------
    def publish(self, channels: list[str], event: str, payload: bytes) -> int:
        """Fan one event out to every connection listening on any of `channels`, once per connection.
        Returns the number of connections it was queued to."""
        if not channels:
            return 0
        self.seq += 1
        frame = sse.frame(payload, event=event, id=f"{self.replica_id}-{self.seq}")
        for name in channels:
            self._remember(name, self.seq, frame)
        if len(channels) == 1:
            targets: Iterable[Connection] = self._subs.get(channels[0], ())
        else:
            merged: set[Connection] = set()
            for name in channels:
                merged.update(self._subs.get(name, ()))
            targets = merged
        queued = 0
        slow: list[Connection] = []
        for conn in targets:
            if conn.push(frame):
                queued += 1
            else:
                slow.append(conn)
        for conn in slow:
            self.drop(conn)
        if queued:
            EVENTS_FANNED_OUT.inc(queued)
        return queued

    def drop(self, conn: Connection) -> None:
        SLOW_CLIENTS_DROPPED.inc()
        log.info("slow_client_dropped", channels=list(conn.channels), pending=conn.pending)
        conn.drop()
        self.disconnect(conn)

    def heartbeat(self) -> None:
        """Ping every connection (proxies keep it open; a dead client shows up as a full queue), and close
        those whose token has expired with a `reauth` event (the client reconnects with a fresh token)."""
        now = self.clock()
        for conn in list(self.connections):
            if conn.expires_at is not None and now >= conn.expires_at:
                conn.close("token expired", sse.frame(b'{"reason":"Your access token expired; reconnect with a '
                                                      b'fresh one."}', event="reauth", id=self.last_id))
                self.disconnect(conn)
            elif not conn.push(PING):
                self.drop(conn)

    def close_all(self, reason: str = "server shutting down") -> None:
        for conn in list(self.connections):
            if conn.sending:  # stuck writing to a client that does not read: end it now, or shutdown waits
                conn.drop()
            else:
                conn.close(reason, sse.frame(b'{"reason":"The server is restarting; reconnect."}', event="bye"))
            self.disconnect(conn)

    async def run_heartbeat(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.heartbeat()

    # -- replay ----------------------------------------------------------------------------------------
    def _remember(self, channel: str, seq: int, frame: bytes) -> None:
        buffer = self._buffers.get(channel)
        if buffer is None:
            buffer = self._buffers[channel] = _Buffer(deque(maxlen=self.replay_size))
        else:
            self._buffers.move_to_end(channel)
        if len(buffer.frames) == buffer.frames.maxlen:
            buffer.truncated_upto = buffer.frames[0][0]
        else:
            self._buffered_frames += 1
        buffer.frames.append((seq, frame))
        # memory stays bounded: forget the least recently active channels first
        while len(self._buffers) > self.max_buffered_channels or self._buffered_frames > self.max_buffered_frames:
            _, evicted = self._buffers.popitem(last=False)
            self._buffered_frames -= len(evicted.frames)
            if evicted.frames:
                self._evicted_upto = max(self._evicted_upto, evicted.frames[-1][0])

    def _replay(self, channels: list[str], last_event_id: str) -> tuple[list[bytes], bool]:
        """The frames after `last_event_id` on `channels`, and whether that is everything the client missed
        (if not, the frames are a single `reset` event)."""
        replica, _, number = last_event_id.strip().rpartition("-")
        if replica != self.replica_id or not number.isdigit() or int(number) > self.seq:
            return [self._reset("Your last event is not known to this server; reload what you show.")], False
        last = int(number)
        frames: dict[int, bytes] = {}
        for name in channels:
            buffer = self._buffers.get(name)
            if buffer is None:
                if last < self._evicted_upto:
                    return [self._reset("Too much has happened since your last event; reload what you show.")], False
                continue
            if last < buffer.truncated_upto:
                return [self._reset("Too much has happened since your last event; reload what you show.")], False
            for seq, frame in reversed(buffer.frames):
                if seq <= last:
                    break
                frames[seq] = frame
        LIVE_REPLAYED.inc(len(frames))
        return [frames[seq] for seq in sorted(frames)], True

    def _reset(self, reason: str) -> bytes:
        LIVE_RESETS.inc()
        return sse.frame(b'{"reason":"' + reason.encode() + b'"}', event="reset", id=self.last_id)


def _json_list(items: Iterable[str]) -> bytes:
    return json.dumps(list(items), separators=(",", ":")).encode()
