"""Server-sent events on the wire (WHATWG HTML, "Server-sent events"): writing frames and reading a stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass


def frame(data: bytes, *, event: str | None = None, id: str | None = None) -> bytes:
    """One event. `data` must be a single line (compact JSON is)."""
    parts = []
    if id is not None:
        parts.append(b"id: " + id.encode() + b"\n")
    if event is not None:
        parts.append(b"event: " + event.encode() + b"\n")
    parts.append(b"data: " + data + b"\n\n")
    return b"".join(parts)


def comment(text: str) -> bytes:
    return b": " + text.encode() + b"\n\n"


@dataclass(frozen=True)
class SseEvent:
    data: str
    event: str = "message"
    id: str | None = None


class SseParser:
    """Feeds on lines (without their line ending); yields an event at each blank line that ends one."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""
        self.last_id: str | None = None
        self.retry_ms: int | None = None

    def feed(self, line: str) -> SseEvent | None:
        if line == "":
            if not self._data:
                self._event = ""
                return None
            event = SseEvent(data="\n".join(self._data), event=self._event or "message", id=self.last_id)
            self._data, self._event = [], ""
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None


async def read_events(lines: AsyncIterator[str]) -> AsyncIterator[SseEvent]:
    parser = SseParser()
    async for line in lines:
        event = parser.feed(line.rstrip("\r\n"))
        if event is not None:
            yield event
