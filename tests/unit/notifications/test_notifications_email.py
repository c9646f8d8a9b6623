"""Email: the sign-in code path, message headers, retries with backoff, the dead-letter topic, lanes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from notifications.domain import Lane
from notifications.mail import SendFailure
from plenary_events import registration as rev


def code_event(h: Any, n: int = 1, code: str = "482913") -> rev.SigninCodeRequested:
    return rev.SigninCodeRequested(attendee_id=f"a{n}", email=f"amina.{n}@example.org", name=f"Amina {n}",
                                   code=code, expires_at=h.clock() + timedelta(minutes=10))


async def test_a_signin_code_is_emailed_with_the_code(harness: Any) -> None:
    await harness.handle(code_event(harness))
    assert await harness.send_mail() == 1
    [message] = harness.senders[Lane.PRIORITY].sent
    assert message["To"] == "Amina 1 <amina.1@example.org>"
    assert message["From"] == "WSIS Forum <forum@example.org>"
    assert message["Reply-To"] == "Help desk <help@example.org>"
    assert "482913" in message["Subject"]
    assert "482913" in harness.body_of(message)
    assert "482913" in harness.body_of(message, "html")
    assert "expires" in harness.body_of(message)
    # codes cannot be unsubscribed from, so there is no unsubscribe header
    assert message["List-Unsubscribe"] is None
    # nothing in the inbox or live: the person is not signed in yet
    assert await harness.service.inbox.unread_count("a1") == 0
    assert await harness.live_events() == []


async def test_a_redelivered_code_event_sends_one_email(harness: Any) -> None:
    await harness.handle(code_event(harness), times=3)  # Kafka delivers the same event three times
    await harness.send_mail()
    await harness.handle(code_event(harness, code="111111"), times=2)  # a second request, delivered twice
    await harness.send_mail()
    codes = [m["Subject"].split()[0] for m in harness.senders[Lane.PRIORITY].sent]
    assert codes == ["482913", "111111"]


async def test_the_sent_code_is_not_kept_at_rest(harness: Any) -> None:
    env = await harness.handle(code_event(harness))
    await harness.send_mail()
    from notifications.domain import notification_id

    nid = notification_id(env.id, "a1")
    assert (await harness.service.queue.message(nid))["status"] == "sent"
    [done] = await harness.service.queue.history.find({"messages._id": nid}).to_list(None)
    assert done["sent"] == [nid]
    assert all("text" not in m and "html" not in m for m in done["messages"])
    assert "482913" not in str(done)


async def test_an_expired_code_is_not_sent(harness: Any) -> None:
    event = code_event(harness)
    harness.clock.advance(minutes=11)
    await harness.handle(event)
    assert await harness.send_mail() == 0
    assert harness.senders[Lane.PRIORITY].attempts == 0


async def test_a_refusing_server_is_retried_with_backoff_then_dead_lettered(harness: Any) -> None:
    sender = harness.senders[Lane.PRIORITY]
    sender.failures = [SendFailure("SMTP refused the message: 451 try later", permanent=False, code=451)] * 3
    await harness.handle(code_event(harness))
    assert await harness.send_mail() == 1  # first attempt fails
    assert await harness.send_mail() == 0  # not due yet: it waits for its backoff
    harness.clock.advance(seconds=13)  # first backoff: 10 s (+ up to 25 %)
    assert await harness.send_mail() == 1
    harness.clock.advance(seconds=19)
    assert await harness.send_mail() == 0  # second backoff is 20 s or more
    harness.clock.advance(seconds=7)
    assert await harness.send_mail() == 1  # third and last attempt (email_max_attempts=3)
    assert sender.attempts == 3 and sender.sent == []
    [dead] = await harness.dead_letters()
    assert dead.type == "org.plenary.notifications.email.dead_lettered.v1"
    assert dead.subject == "a1"
    assert dead.data["reason"] == "SMTP refused the message: 451 try later"
    assert dead.data["attempts"] == 3 and dead.data["smtp_code"] == 451 and dead.data["lane"] == "priority"
    assert "482913" not in str(dead.data)  # the code never travels to the dead-letter topic
    harness.clock.advance(hours=1)
    assert await harness.send_mail() == 0  # dead means dead


async def test_an_unreachable_server_pauses_the_lane_without_using_up_attempts(harness: Any) -> None:
    sender = harness.senders[Lane.PRIORITY]
    away = SendFailure("SMTP unreachable: ConnectionRefusedError: refused", permanent=False, unreachable=True)
    sender.failures = [away] * 6
    await harness.handle(code_event(harness))
    worker = harness.service.workers[Lane.PRIORITY]
    pauses = []
    for _ in range(6):  # six outages in a row: more than email_max_attempts (3), yet nothing is dead-lettered
        await harness.send_mail()
        assert worker.paused_until is not None
        pauses.append((worker.paused_until - harness.clock()).total_seconds())
        assert await harness.send_mail() == 0  # paused: the queue is left alone
        harness.clock.now = worker.paused_until
    assert pauses == [10, 20, 40, 60, 60, 60]  # doubling from email_backoff_seconds, at most a minute
    assert await harness.send_mail() == 1
    assert len(sender.sent) == 1 and worker.paused_until is None
    assert await harness.dead_letters() == []


async def test_a_code_that_expired_while_the_server_was_away_is_dead_lettered_not_sent(harness: Any) -> None:
    sender = harness.senders[Lane.PRIORITY]
    sender.failures = [SendFailure("SMTP timed out", permanent=False, unreachable=True)]
    await harness.handle(code_event(harness))
    await harness.send_mail()
    harness.clock.advance(minutes=11)  # the code expired meanwhile
    await harness.send_mail()
    assert sender.sent == []
    [dead] = await harness.dead_letters()
    assert dead.data["reason"] == "expired before it could be sent"


async def test_a_permanent_refusal_is_dead_lettered_at_once(harness: Any) -> None:
    harness.senders[Lane.PRIORITY].failures = [
        SendFailure("SMTP refused the recipient (x: 550 no such user)", permanent=True, code=550)]
    await harness.handle(code_event(harness))
    await harness.send_mail()
    [dead] = await harness.dead_letters()
    assert dead.data["attempts"] == 1 and dead.data["smtp_code"] == 550


async def test_a_worker_that_died_mid_send_leaves_the_message_to_be_retried(harness: Any) -> None:
    await harness.handle(code_event(harness))
    queue = harness.service.queue
    [due] = await queue.due(Lane.PRIORITY, harness.clock(), 10)
    # a worker claims the batch and dies before sending
    assert await queue.claim(Lane.PRIORITY, due["_id"], harness.clock(), harness.clock() + timedelta(seconds=120))
    assert await harness.send_mail() == 0
    harness.clock.advance(seconds=121)
    worker = harness.service.workers[Lane.PRIORITY]
    worker._last_recovery = None  # the next pass looks for expired claims
    assert await harness.send_mail() == 1
    assert len(harness.senders[Lane.PRIORITY].sent) == 1


async def test_a_batch_finished_by_a_worker_that_died_before_removing_it_is_not_sent_again(harness: Any) -> None:
    await harness.handle(code_event(harness))
    queue = harness.service.queue
    [due] = await queue.due(Lane.PRIORITY, harness.clock(), 10)
    batch = await queue.lanes[Lane.PRIORITY].find_one({"_id": due["_id"]})
    assert await harness.send_mail() == 1
    await queue.lanes[Lane.PRIORITY].insert_one({**batch, "status": "queued"})  # the delete never happened
    assert await harness.send_mail() == 0
    assert len(harness.senders[Lane.PRIORITY].sent) == 1
    assert await queue.lanes[Lane.PRIORITY].count_documents({}) == 0


async def test_only_the_failed_messages_of_a_batch_are_retried(harness: Any) -> None:
    await harness.register(*(harness.attendee(n) for n in range(1, 5)))
    await harness.send_mail()  # the confirmations
    bulk = harness.senders[Lane.BULK]
    bulk.failures = [SendFailure("SMTP refused the message: 452 mailbox full", permanent=False, code=452),
                     SendFailure("SMTP refused the recipient (x: 550 no such user)", permanent=True, code=550)]
    await harness.client.post("/notifications/announcements", json={"title": "Hello", "body": "x"},
                              headers=harness.token("org", ("organiser",)))
    await harness.feed_announcements()
    assert await harness.send_mail(Lane.BULK) == 4
    assert len(bulk.sent) == 2
    [dead] = await harness.dead_letters()
    assert dead.data["smtp_code"] == 550 and dead.data["attempts"] == 1
    harness.clock.advance(seconds=13)
    assert await harness.send_mail(Lane.BULK) == 1  # only the 452
    assert len(bulk.sent) == 3 and bulk.attempts == 5
    counts = (await harness.service.queue.counts())["bulk"]
    assert counts == {"queued": 0, "sending": 0, "sent": 3, "dead": 1}


async def test_lanes_have_their_own_queues_and_senders(harness: Any) -> None:
    await harness.register(*(harness.attendee(n) for n in range(1, 31)))
    await harness.client.post("/notifications/announcements", json={"title": "Hello", "body": "Welcome all."},
                              headers=harness.token("org", ("organiser",)))
    await harness.feed_announcements()
    await harness.handle(code_event(harness, 5))
    # the priority lane is sent alone, whatever waits in the bulk lane
    assert await harness.send_mail(Lane.PRIORITY) == 1
    assert len(harness.senders[Lane.PRIORITY].sent) == 1
    assert harness.senders[Lane.BULK].sent == []
    counts = await harness.service.queue.counts()
    assert counts["bulk"]["queued"] == 30 and counts["priority"]["sent"] == 1
    assert counts["standard"]["queued"] == 30  # the registration confirmations
    await harness.send_mail()
    assert len(harness.senders[Lane.BULK].sent) == 30


async def test_a_crash_between_recording_and_queueing_is_repaired_by_the_redelivery(harness: Any,
                                                                                    monkeypatch: Any) -> None:
    lane = harness.service.queue.lanes[Lane.PRIORITY]
    real_insert = lane.insert_one
    calls = {"n": 0}

    async def crash_once(doc: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("the database went away (simulated)")
        return await real_insert(doc, *args, **kwargs)

    monkeypatch.setattr(lane, "insert_one", crash_once)
    event = code_event(harness)
    with pytest.raises(ConnectionError):
        await harness.handle(event, event_id="e1")  # the ledger has it, the queue does not
    await harness.handle(event, event_id="e1", times=2)  # Kafka redelivers (the offset was not committed)
    assert await harness.send_mail() == 1
    assert len(harness.senders[Lane.PRIORITY].sent) == 1
