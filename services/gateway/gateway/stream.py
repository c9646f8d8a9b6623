"""The ASGI response of `/api/live`: writes a hub connection's frames until the client or the hub ends it."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.connection import Connection
from gateway.hub import LiveHub

RETRY_MS = 2000
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),  # nginx and friends: do not buffer the stream
]


class LiveStream(Response):
    """The stream's task writes the headers and what was queued at connect (replay, `ready`), then hands its
    writer to the hub, whose flush writes later frames directly (see gateway/hub.py), and waits for the end. A
    second, idle task waits for the client's disconnect. Nothing else runs per connection."""

    media_type = "text/event-stream"

    def __init__(self, hub: LiveHub, conn: Connection) -> None:
        self.hub = hub
        self.conn = conn
        self.status_code = 200
        self.background: BackgroundTask | None = None
        self.raw_headers = list(HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        conn = self.conn
        conn.task = asyncio.current_task()
        watcher = asyncio.create_task(_watch_disconnect(receive, conn))

        async def write(chunk: bytes) -> None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await write(f"retry: {RETRY_MS}\n: connected\n\n".encode())
            await conn.serve(write, self.hub.schedule_flush)
            if not conn.dropped:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            # Dropped (a client that does not read): returning without completing the response makes the server
            # close the socket (uvicorn logs one line about it).
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not conn.dropped or (task is not None and task.uncancel() > 0):
                raise
        except OSError:
            pass  # the client went away mid-write
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self.hub.disconnect(conn)
            conn.close("ended")


async def _watch_disconnect(receive: Receive, conn: Connection) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            conn.close("client disconnected")
            return
