"""The local stack's mail catcher: an SMTP server on loopback that keeps what it receives as .eml files.

`make up` points the notifications service at it, so sign-in codes, confirmations and announcements can be read
on a development machine (`plenary stack mail`), as Mailpit does in docker-compose. Nothing leaves the machine.
The newest `keep` messages are kept; older ones are removed as new ones arrive.

    python -m plenary_kit.stack.mailsink --port 1025 --dir .plenary/mail
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import itertools
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plenary_kit.stack.processes import HOST, Daemon, StackPaths

MAIL_PORT = 1025
KEEP = 2000


class MailStore:
    """Messages as `<ns>-<n>.eml` files in one folder; names sort by arrival."""

    def __init__(self, folder: Path, keep: int = KEEP) -> None:
        self.folder = folder
        self.keep = keep
        self._counter = itertools.count()
        self._written = 0

    def add(self, raw: bytes) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{time.time_ns():020d}-{next(self._counter):06d}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(raw)
        tmp.rename(path)  # readers never see half a message
        self._written += 1
        if self._written % 100 == 0 or self._written == 1:
            self.prune()
        return path

    def prune(self) -> None:
        files = self.files()
        for old in files[: max(0, len(files) - self.keep)]:
            old.unlink(missing_ok=True)

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("*.eml")) if self.folder.is_dir() else []


@dataclass
class Summary:
    path: Path
    to: str
    subject: str
    text: str


def summarise(path: Path, text_chars: int = 400) -> Summary:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    body = message.get_body(preferencelist=("plain", "html")) if hasattr(message, "get_body") else None
    text = body.get_content() if body is not None else ""
    return Summary(path, str(message.get("To", "")), str(message.get("Subject", "")), text.strip()[:text_chars])


class _Handler:
    def __init__(self, store: MailStore) -> None:
        self.store = store

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        self.store.add(raw if isinstance(raw, bytes) else str(raw).encode())
        return "250 Message accepted for delivery"


async def serve(port: int, folder: Path, keep: int) -> None:
    from aiosmtpd.smtp import SMTP

    loop = asyncio.get_running_loop()
    handler = _Handler(MailStore(folder, keep))
    server = await loop.create_server(lambda: SMTP(handler, hostname="plenary-mailsink"), HOST, port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"mail sink listening on {HOST}:{port}, keeping the newest {keep} messages in {folder}", flush=True)
    async with server:
        await stop.wait()


class MailSink(Daemon):
    """The mail catcher as one of the local stack's processes."""

    title = "the mail sink"
    stop_timeout = 5.0
    marker = "plenary_kit.stack.mailsink"

    def __init__(self, paths: StackPaths, port: int = MAIL_PORT) -> None:
        super().__init__("mailsink", port=port, run_dir=paths.run, log_dir=paths.logs)
        self.folder = paths.state / "mail"

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.marker, "--port", str(self.port), "--dir", str(self.folder)]

    def probe(self, timeout: float) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=timeout) as sock:
                sock.settimeout(timeout)
                return sock.recv(3) == b"220"
        except OSError:
            return False


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m plenary_kit.stack.mailsink", description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=MAIL_PORT)
    ap.add_argument("--dir", type=Path, required=True)
    ap.add_argument("--keep", type=int, default=KEEP)
    args = ap.parse_args(argv)
    asyncio.run(serve(args.port, args.dir, args.keep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
