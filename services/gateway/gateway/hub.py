"""The in-memory fan-out of live events to SSE connections.

Each event is serialised once into an SSE frame (`id: <replica>-<seq>`) that every matching connection shares.
Publishing appends that frame to each matching connection's bounded queue and notes the connections that have
something new; one flush, scheduled right after (`loop.call_soon`), writes each such connection's queue in one
write. The write is the connection's ASGI `send`, started by hand: it almost always completes without suspending
(the socket takes the bytes), so fanning an event out to 10,000 connections costs 10,000 small writes and no task
switch. Several events published before the flush runs (a batch from Kafka) go out together. Only a write that has
to wait (the client's socket buffer is full) gets a task of its own to finish in; frames published meanwhile wait in
the queue and follow in one write. A connection whose queue is full (a client that does not read) is dropped: it
may reconnect with Last-Event-ID and be replayed from the per-channel ring buffers, or, if those no longer reach
back far enough, it receives a `reset` event and refetches.

A connection that no stream serves keeps its frames queued for `next_chunk()`.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from plenary_kit.logging import get_logger
from plenary_kit.problems import ProblemError

from gateway import sse
from gateway.connection import Connection
from gateway.metrics import (
    EVENTS_FANNED_OUT,
    LIVE_REPLAYED,
    LIVE_RESETS,
    SLOW_CLIENTS_DROPPED,
    SSE_CONNECTIONS,
)

log = get_logger("gateway.live")
PING = sse.comment("ping")
FD_HEADROOM = 1024  # open files besides the SSE clients: upstream and Kafka connections, proxied requests, logs
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
    flush_slice: int = 1000  # connections written in one go (about 10 ms) before the loop serves anything else
    clock: Callable[[], float] = time.time
    # channels whose every event is a whole snapshot (the facts): a new listener gets the latest at once
    snapshot_channels: frozenset[str] = frozenset({"facts"})
    seq: int = 0
    connections: set[Connection] = field(default_factory=set)
    _subs: dict[str, set[Connection]] = field(default_factory=dict)
    _buffers: OrderedDict[str, _Buffer] = field(default_factory=OrderedDict)
    _dirty: list[Connection] = field(default_factory=list)  # connections with frames to write at the next flush
    _flush_scheduled: bool = False
    _evicted_upto: int = 0  # the highest seq held by a channel buffer that was evicted altogether
    _buffered_frames: int = 0

    def __post_init__(self) -> None:
        self.max_connections = fit_open_files_limit(self.max_connections)

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

    def schedule_flush(self, conn: Connection) -> None:
        """`conn` has frames to write: write them right after what runs now (with whatever else comes first)."""
        self._dirty.append(conn)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """One write per connection with something queued, `flush_slice` connections at a time: between two
        slices the event loop serves everything else (proxied requests, the Kafka feed)."""
        batch = self._dirty[:self.flush_slice]
        del self._dirty[:self.flush_slice]
        try:
            for conn in batch:
                conn.flush()
        finally:
            if self._dirty:
                asyncio.get_running_loop().call_soon(self.flush)
            else:
                self._flush_scheduled = False

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


def fit_open_files_limit(connections: int) -> int:
    """Raise this process's open-files limit (up to the hard limit) so that it can hold `connections` SSE clients
    besides its other files; returns how many connections fit (fewer, with a warning, when the hard limit is too
    low: the hub then answers 503 at capacity instead of the server failing to accept sockets)."""
    wanted = connections + FD_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError) as exc:
            log.warning("open_files_limit_not_raised", wanted=wanted, error=str(exc))
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return connections
    fits = max(1, soft - FD_HEADROOM)
    log.warning("live_connections_capped", wanted=connections, open_files_limit=soft, max_connections=fits)
    return fits


def _json_list(items: Iterable[str]) -> bytes:
    return json.dumps(list(items), separators=(",", ":")).encode()
