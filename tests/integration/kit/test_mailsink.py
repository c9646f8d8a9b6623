"""The local stack's mail sink: a real SMTP conversation ends as a readable .eml file; old mail is pruned."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from plenary_kit.stack.mailsink import MailSink, MailStore, summarise
from plenary_kit.stack.processes import HOST, StackPaths, free_ports


def _send(port: int, to: str, subject: str, text: str) -> None:
    message = EmailMessage()
    message["From"] = "Plenary <no-reply@plenary.example>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    with smtplib.SMTP(HOST, port, timeout=10) as smtp:
        smtp.send_message(message)


def test_mail_sent_to_the_sink_can_be_read_back(tmp_path) -> None:
    sink = MailSink(StackPaths(tmp_path), port=free_ports(1)[0])
    _pid, started = sink.start(timeout=30)
    try:
        assert started and sink.status().state == "running"
        _send(sink.port, "ada@example.org", "Your sign-in code", "Your code is 123456.")
        _send(sink.port, "grace@example.org", "Welcome", "You are registered.")
        files = MailStore(sink.folder).files()
        assert len(files) == 2
        first = summarise(files[0])
        assert (first.to, first.subject) == ("ada@example.org", "Your sign-in code")
        assert "123456" in first.text
    finally:
        sink.stop()
    assert sink.pid() is None


def test_the_store_keeps_only_the_newest_messages(tmp_path) -> None:
    store = MailStore(tmp_path / "mail", keep=3)
    for n in range(5):
        store.add(f"Subject: {n}\r\n\r\nbody {n}\r\n".encode())
    store.prune()
    assert [summarise(p).subject for p in store.files()] == ["2", "3", "4"]
