"""Email: composing RFC 5322 messages and handing them to SMTP.

`EmailSender` is the port the outbound workers use; `SmtpSender` is the real adapter (aiosmtplib, a small pool of
kept-open connections per lane), and unit tests use an in-memory one. A sender raises `SendFailure` saying whether
the failure is permanent (a 5xx answer: the server will never take this message) or worth retrying (4xx answers,
timeouts, refused or dropped connections).
"""

from __future__ import annotations

import asyncio
import binascii
import functools
import re
from dataclasses import dataclass
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any, Protocol

import aiosmtplib
from plenary_kit.logging import get_logger

log = get_logger("notifications.mail")


class SendFailure(Exception):
    """Why a message was not handed over. `permanent`: the server will never take it (5xx). `unreachable`: the
    server did not answer at all (refused or dropped connection, timeout), which says nothing about the message."""

    def __init__(self, reason: str, *, permanent: bool, code: int | None = None, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.code = code
        self.unreachable = unreachable


class EmailSender(Protocol):
    async def send(self, message: RawEmail) -> None: ...

    async def close(self) -> None: ...


@functools.lru_cache(maxsize=64)
def _domain(address: str) -> str:
    _, addr = parseaddr(address)
    return addr.rpartition("@")[2] or "plenary.localhost"


@functools.lru_cache(maxsize=64)
def _address(value: str) -> str:
    """A header address with a non-ASCII display name encoded (RFC 2047)."""
    name, addr = parseaddr(value)
    return formataddr((name, addr), charset="utf-8") if addr else value


CRLF = "\r\n"
MAX_LINE = 998  # RFC 5322: a header line is not folded below this (a folded List-Unsubscribe URL starts with a space)


@dataclass(frozen=True)
class RawEmail:
    """One email as it goes over SMTP: the envelope addresses and the RFC 5322 bytes."""

    mail_from: str
    rcpt_to: str
    data: bytes

    def as_bytes(self) -> bytes:
        return self.data


def _header(name: str, value: str) -> str:
    """One header line. An ASCII value (compose() RFC 2047-encodes names first) is written as it is, folded where
    it came folded; anything else (non-ASCII, or a line break not followed by white space, which would start a
    header of its own) is encoded by the email package."""
    if value.isascii():
        lines = value.replace("\r\n", "\n").split("\n")
        if all(line[:1] in (" ", "\t") for line in lines[1:]) and len(name) + 2 + max(map(len, lines)) <= MAX_LINE:
            return f"{name}: {CRLF.join(lines)}{CRLF}"
    return f"{name}: {Header(value, 'utf-8', header_name=name).encode(linesep=CRLF)}{CRLF}"


def _body(text: str) -> str:
    """UTF-8 quoted-printable with CRLF line ends (readable in the raw message, no line over 76 characters)."""
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii")
    return CRLF.join(encoded.split("\n"))


def _part(text: str, subtype: str) -> str:
    return (f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}MIME-Version: 1.0{CRLF}'
            f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}{_body(text)}")


def compose(doc: dict[str, Any], *, sender: str, reply_to: str | None) -> RawEmail:
    """The email of one notification: `doc` has the notification id (`_id`), kind, recipient, subject, text and
    optionally HTML and an unsubscribe URL. Multipart text + HTML, written directly: the email package's
    generator cost more than rendering the templates, which matters for a 15,000-person broadcast."""
    headers = [("From", _address(sender)),
               ("To", formataddr((doc.get("to_name") or "", doc["to_address"]), charset="utf-8"))]
    if reply_to:
        headers.append(("Reply-To", _address(reply_to)))
    subject = " ".join(str(doc["subject"]).split())  # one line (RFC 2047-encoded by _header when not ASCII)
    headers += [
        ("Subject", subject),
        ("Date", format_datetime(doc["queued_at"])),
        # the same id on every retry: a server that saw a previous attempt can tell it is the same message
        ("Message-ID", f"<{doc['_id']}@{_domain(sender)}>"),
        ("Auto-Submitted", "auto-generated"),
        ("X-Auto-Response-Suppress", "All"),
        ("X-Plenary-Kind", doc["kind"]),
        ("X-Plenary-Notification", str(doc["_id"])),
    ]
    if doc.get("unsubscribe_url"):
        # RFC 2369 + RFC 8058: mail clients show an unsubscribe button that POSTs to the URL (one click).
        headers += [("List-Unsubscribe", f"<{doc['unsubscribe_url']}>"),
                    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
    if doc.get("html"):
        # "=_" cannot occur in a quoted-printable part ("=" is written "=3D" there): a safe, fixed boundary
        boundary = f"=_plenary_{doc['_id']}"
        top = [("Content-Type", f'multipart/alternative; boundary="{boundary}"'), ("MIME-Version", "1.0")]
        body = (f"--{boundary}{CRLF}{_part(doc['text'], 'plain')}{CRLF}--{boundary}{CRLF}"
                f"{_part(doc['html'], 'html')}{CRLF}--{boundary}--{CRLF}")
    else:
        top = [("Content-Type", 'text/plain; charset="utf-8"'), ("MIME-Version", "1.0"),
               ("Content-Transfer-Encoding", "quoted-printable")]
        body = _body(doc["text"])
    if not body.endswith(CRLF):
        body += CRLF
    data = "".join(_header(name, value) for name, value in (*top, *headers)) + CRLF + body
    return RawEmail(mail_from=parseaddr(sender)[1], rcpt_to=doc["to_address"], data=data.encode("utf-8"))


# One addr-spec, nothing around it: no spaces, line breaks, brackets, quotes or separators (registration validated
# the address already; this keeps anything that could break a header away from SMTP). International addresses pass.
_SPECIALS = r"\s<>()\[\],;:\"\\@"
_ADDRESS = re.compile(rf"[^{_SPECIALS}]+@[^{_SPECIALS}.]+(?:\.[^{_SPECIALS}.]+)+")


def valid_address(address: str) -> bool:
    return len(address) <= 320 and _ADDRESS.fullmatch(address) is not None


def classify(exc: BaseException) -> SendFailure:
    """Turn an aiosmtplib or socket error into a SendFailure with a reason a person can read."""
    if isinstance(exc, SendFailure):
        return exc
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return SendFailure(f"SMTP refused the recipient ({detail})", permanent=all(c >= 500 for c in codes),
                           code=max(codes) if codes else None)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        stage = {
            aiosmtplib.SMTPSenderRefused: "the sender",
            aiosmtplib.SMTPRecipientRefused: "the recipient",
            aiosmtplib.SMTPDataError: "the message",
        }.get(type(exc), "the session")
        return SendFailure(f"SMTP refused {stage}: {exc.code} {exc.message}", permanent=exc.code >= 500,
                           code=exc.code)
    if isinstance(exc, asyncio.TimeoutError | aiosmtplib.SMTPTimeoutError):
        return SendFailure(f"SMTP timed out: {exc or type(exc).__name__}", permanent=False, unreachable=True)
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected | OSError):
        return SendFailure(f"SMTP unreachable: {type(exc).__name__}: {exc}", permanent=False, unreachable=True)
    if isinstance(exc, aiosmtplib.SMTPException):
        return SendFailure(f"SMTP failed: {type(exc).__name__}: {exc}", permanent=False)
    return SendFailure(f"sending failed: {type(exc).__name__}: {exc}", permanent=False)


class SmtpSender:
    """Hands messages to one SMTP server over up to `pool_size` kept-open connections."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        timeout: float = 15.0,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        start_tls: bool = False,
        pool_size: int = 2,
    ) -> None:
        self._host, self._port, self._timeout = host, port, timeout
        self._username, self._password = username, password
        self._use_tls, self._start_tls = use_tls, start_tls
        self._slots = asyncio.Semaphore(pool_size)
        self._idle: list[aiosmtplib.SMTP] = []

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(hostname=self._host, port=self._port, timeout=self._timeout,
                                 use_tls=self._use_tls, start_tls=self._start_tls or None,
                                 username=self._username, password=self._password)
        await client.connect()
        return client

    async def send(self, message: RawEmail) -> None:
        async with self._slots:
            client = self._idle.pop() if self._idle else None
            reused = client is not None
            try:
                if client is None or not client.is_connected:
                    reused = False
                    client = await self._connect()
                try:
                    await self._hand_over(client, message)
                except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                    if not reused:
                        raise
                    # a kept-open connection the server closed meanwhile: one fresh attempt
                    await self._discard(client)
                    client = await self._connect()
                    await self._hand_over(client, message)
            except BaseException as exc:
                if client is not None:
                    await self._discard(client)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                raise classify(exc) from exc
            self._idle.append(client)

    @staticmethod
    async def _hand_over(client: aiosmtplib.SMTP, message: RawEmail) -> None:
        international = not (message.mail_from.isascii() and message.rcpt_to.isascii())
        await client.sendmail(message.mail_from, [message.rcpt_to], message.data,
                              mail_options=["SMTPUTF8"] if international else None)

    async def _discard(self, client: aiosmtplib.SMTP) -> None:
        try:
            if client.is_connected:
                client.close()
        except Exception as exc:  # pragma: no cover - best effort
            log.debug("smtp_close_failed", error=str(exc))

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                if client.is_connected:
                    await asyncio.wait_for(client.quit(), timeout=2)
            except Exception:
                await self._discard(client)
