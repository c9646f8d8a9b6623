"""The notifications service on the real stack: Kafka in, state in the store, a real SMTP server (aiosmtpd) out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from notifications.domain import notification_id
from plenary_events import notifications as nev
from plenary_events import registration as rev
from plenary_events import sessions as sev
from plenary_kit.envelope import Envelope
from plenary_kit.testing.waiting import eventually

pytestmark = pytest.mark.integration
WAIT = 240  # a guard against hanging, not a measure: the machine may be busy


async def test_a_signin_code_email_arrives_with_the_code(stack: Any) -> None:
    mailbox = stack.Mailbox()
    async with stack.mail_server(mailbox) as port, stack.service(stack.settings(port)):
        await stack.publish(rev.SIGNIN, stack.code_requested(1, "731904"), "a1")
        [message] = await eventually(lambda: _async(mailbox.received("signin_code")), timeout=WAIT)
    assert message["To"] == "Amina Diallo 1 <amina.1@example.org>"
    assert message["From"] == "WSIS Forum <forum@example.org>"
    assert message["Reply-To"] == "Help desk <help@example.org>"
    assert message["Subject"] == "731904 is your WSIS Forum 2020 sign-in code"
    assert "731904" in message.get_body(("plain",)).get_content()
    assert "731904" in message.get_body(("html",)).get_content()


async def test_redelivered_events_send_nothing_twice(stack: Any) -> None:
    mailbox = stack.Mailbox()
    async with stack.mail_server(mailbox) as port, stack.service(stack.settings(port)) as client, \
            stack.consume(nev.DELIVERED) as live:
        # Kafka redelivers: the same records (same event ids) arrive three times
        code = await stack.publish(rev.SIGNIN, stack.code_requested(1, "111111"), "a1")
        joined = await stack.publish(rev.ATTENDEES, stack.registered(1), "a1")
        for _ in range(2):
            await stack.publish(rev.SIGNIN, None, "a1", envelope=code)
            await stack.publish(rev.ATTENDEES, None, "a1", envelope=joined)
        # then one more event behind them on each partition (same key): once it is handled, so are the copies
        await stack.publish(rev.SIGNIN, stack.code_requested(1, "222222"), "a1")
        await stack.publish(rev.ATTENDEES, stack.updated(1, name="Amina D."), "a1")

        async def settled() -> bool:
            person = await stack.collection("attendees").find_one({"_id": "a1"})
            codes = [m["Subject"].split()[0] for m in mailbox.received("signin_code")]
            return bool(person and person["name"] == "Amina D." and "222222" in codes
                        and mailbox.received("registration_confirmed"))

        await eventually(settled, timeout=WAIT)
        inbox = (await client.get("/notifications/inbox", headers=stack.token("a1"))).json()["items"]
        pushes: list[Envelope] = []
        await eventually(lambda: _nonempty(stack.read(live, pushes)), timeout=WAIT)
    assert [m["Subject"].split()[0] for m in mailbox.received("signin_code")] == ["111111", "222222"]
    assert len(mailbox.received("registration_confirmed")) == 1
    assert [i["kind"] for i in inbox] == ["registration_confirmed"]
    nid = notification_id(joined.id, "a1")
    assert inbox[0]["id"] == nid
    assert [p.id for p in pushes] == [nid]
    assert pushes[0].data["channel"] == "user:a1" and pushes[0].data["recipient_id"] == "a1"
    # the durable records agree: one email per (event, person), one live push
    assert await stack.collection("email_ledger").count_documents({}) == 3
    sent = [m async for doc in stack.collection("email_history").find() for m in doc["sent"]]
    assert len(sent) == 3 and len(set(sent)) == 3
    assert await stack.collection("live_ledger").count_documents({}) == 1


async def test_a_refusing_smtp_server_is_retried_then_dead_lettered_while_the_inbox_gets_it(stack: Any) -> None:
    mailbox = stack.Mailbox(refuse="451 4.3.2 Please try again later")
    async with stack.mail_server(mailbox) as port, stack.service(stack.settings(port)) as client, \
            stack.consume(nev.EMAIL_DLQ) as dlq:
        await stack.publish(rev.ATTENDEES, stack.registered(1), "a1")

        async def in_inbox() -> Any:
            return (await client.get("/notifications/inbox", headers=stack.token("a1"))).json()["items"]

        [item] = await eventually(in_inbox, timeout=WAIT)
        dead: list[Envelope] = []
        await eventually(lambda: _nonempty(stack.read(dlq, dead)), timeout=WAIT)
    assert item["kind"] == "registration_confirmed" and item["read"] is False
    assert mailbox.rcpt_attempts == 3 and mailbox.received() == []  # email_max_attempts = 3
    [letter] = dead
    assert letter.type == "org.plenary.notifications.email.dead_lettered.v1"
    assert letter.data["attempts"] == 3 and letter.data["smtp_code"] == 451
    assert "451" in letter.data["reason"] and "Please try again later" in letter.data["reason"]
    assert letter.data["email_id"] == item["id"] and letter.data["kind"] == "registration_confirmed"
    attempts = await stack.collection("email_history").find({"messages._id": item["id"]}).to_list(None)
    assert sorted(a["attempt"] for a in attempts) == [1, 2, 3]
    assert [a["dead"] for a in attempts if a["attempt"] == 3] == [[item["id"]]]
    assert await stack.collection("email_standard").count_documents({}) == 0  # nothing left to send


async def test_a_signin_code_overtakes_a_running_broadcast(stack: Any) -> None:
    mailbox = stack.Mailbox(delay=0.1)  # a slow server: 100 ms a message, two connections for the broadcast
    people = 300  # so the broadcast takes at least 15 seconds
    async with stack.mail_server(mailbox) as port, \
            stack.service(stack.settings(port, email_concurrency_bulk=2, email_concurrency_priority=1)) as client:
        # the sign-in path is up (its consumer has joined): a first code arrives
        await stack.publish(rev.SIGNIN, stack.code_requested(1, "100001"), "a1")
        await eventually(lambda: _async(mailbox.received("signin_code")), timeout=WAIT)
        for n in range(people):  # the directory learns about everyone (updates: no confirmation emails)
            await stack.publish(rev.ATTENDEES, stack.updated(n), f"a{n}")
        await eventually(lambda: _count(stack.collection("attendees"), people), timeout=WAIT)
        response = await client.post("/notifications/announcements", headers=stack.token("org", ("organiser",)),
                                     json={"title": "Plenary opens", "body": "Join the opening ceremony."})
        assert response.status_code == 202, response.text
        await eventually(lambda: _async(len(mailbox.received("announcement")) >= 5), timeout=WAIT)  # running
        await stack.publish(rev.SIGNIN, stack.code_requested(7, "909090"), "a7")
        await eventually(lambda: _async(len(mailbox.received("signin_code")) == 2), timeout=WAIT)
        broadcast_when_code_arrived = len(mailbox.received("announcement"))
        await eventually(lambda: _async(len(mailbox.received("announcement")) == people), timeout=WAIT)
    order = [m["X-Plenary-Kind"] for m in mailbox.received()]
    assert 5 <= broadcast_when_code_arrived < people
    second_code = len(order) - 1 - order[::-1].index("signin_code")
    assert order[second_code + 1:].count("announcement") >= people - broadcast_when_code_arrived > 0


async def test_a_reminder_scheduled_before_a_restart_fires_once_after_it(stack: Any) -> None:
    mailbox = stack.Mailbox()
    lead_minutes = 0.1  # six seconds before the start
    starts_at = datetime.now(UTC) + timedelta(seconds=20)
    async with stack.mail_server(mailbox) as port:
        settings = stack.settings(port, reminder_lead_minutes=lead_minutes)
        async with stack.service(settings):
            await stack.publish(rev.ATTENDEES, stack.updated(1), "a1")
            await stack.publish(sev.AGENDA, sev.SessionScheduled(
                session_id="s1", title="HLPS 1: Opening", type="high-level-policy-session", starts_at=starts_at,
                ends_at=starts_at + timedelta(hours=1)), "s1")
            await stack.publish(sev.ENROLMENTS, sev.EnrolmentSeated(session_id="s1", attendee_id="a1",
                                                                    at=datetime.now(UTC)), "s1")

            async def armed() -> Any:
                session = await stack.collection("sessions").find_one({"_id": "s1"})
                reminder = await stack.collection("reminders").find_one({"_id": "s1", "status": "pending"})
                return reminder if session and session.get("enrolled") == ["a1"] else None

            reminder = await eventually(armed, timeout=WAIT)
        # the service is down when the reminder falls due
        due = reminder["due_at"].replace(tzinfo=UTC)
        assert datetime.now(UTC) < due, "the service stopped too late for this test"
        await asyncio.sleep((due - datetime.now(UTC)).total_seconds() + 1)
        assert mailbox.received() == []
        async with stack.service(settings):
            [sent] = await eventually(lambda: _async(mailbox.received("session_reminder")), timeout=WAIT)
            fired = await eventually(lambda: stack.collection("reminders").find_one({"_id": "s1", "status": "fired"}),
                                     timeout=WAIT)
        async with stack.service(settings):  # and once more: nothing is left to fire
            await eventually(lambda: _async(True))
    assert fired["fired_at"].replace(tzinfo=UTC) >= due
    assert sent["Subject"] == "Starting soon: HLPS 1: Opening"
    assert len(mailbox.received("session_reminder")) == 1
    assert fired["reminded"] == 1
    assert await stack.collection("email_ledger").count_documents({}) == 1  # the reminder (no other email)
    assert await stack.collection("inbox").count_documents({"kind": "session_reminder", "attendee_id": "a1"}) == 1


async def _async(value: Any) -> Any:
    return value


async def _nonempty(read: Any) -> bool:
    return bool(await read)


async def _count(collection: Any, expected: int) -> bool:
    return bool(await collection.count_documents({}) >= expected)
