"""A real SMTP server for tests (aiosmtpd on a free loopback port) that records what it is given.

`Mailbox` is the server's handler: every message it accepts, as an `EmailMessage`; `refuse` answers every RCPT with
that reply (a 451, say), `delay` makes each DATA take that long (a slow server). `mail_server(mailbox)` runs it for
the length of a block and yields its port.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from plenary_kit.testing.apps import free_port


@dataclass
class Mailbox:
    refuse: str | None = None
    delay: float = 0.0
    messages: list[EmailMessage] = field(default_factory=list)
    rcpt_attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        with self.lock:
            self.rcpt_attempts += 1
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        message = message_from_bytes(envelope.content, policy=default)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def received(self, kind: str | None = None, to: str | None = None) -> list[EmailMessage]:
        """The messages of one kind (the `X-Plenary-Kind` header), to one address (case-insensitive), or all."""
        with self.lock:
            return [m for m in self.messages
                    if (kind is None or m["X-Plenary-Kind"] == kind)
                    and (to is None or to.lower() in str(m["To"]).lower())]


@asynccontextmanager
async def mail_server(mailbox: Mailbox) -> AsyncIterator[int]:
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    await asyncio.to_thread(controller.start)
    try:
        yield port
    finally:
        await asyncio.to_thread(controller.stop)
