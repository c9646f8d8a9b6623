"""Reminders with two notifications replicas on one database: a reminder that falls due is e-mailed once.

The SMTP server is real (aiosmtpd on a free port). Both replicas poll for due reminders and send queued e-mail; the
test waits for the reminder's e-mail, then until BOTH replicas' schedulers have fired reminders that fell due after
it (probe sessions, armed once the e-mail has arrived; each replica's /metrics counts the reminders it fired), and
until the outbound queue holds nothing queued or in flight. Only then does it count the e-mails.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from plenary_events import registration as rev
from plenary_events import sessions as sev
from plenary_kit.testing.mail import Mailbox, mail_server
from plenary_kit.testing.waiting import eventually

pytestmark = pytest.mark.integration
WAIT = 240.0
LEAD_MINUTES = 0.1  # reminders fall due six seconds before the start
FIRED = "plenary_notifications_reminder_delay_seconds_count"  # reminders this process fired (one per session)
PROBES_PER_ROUND = 4


def scheduled(session_id: str, starts_at: datetime) -> sev.SessionScheduled:
    return sev.SessionScheduled(session_id=session_id, title=f"Session {session_id}", type="high-level-policy-session",
                                starts_at=starts_at, ends_at=starts_at + timedelta(hours=1))


async def test_a_reminder_falls_due_under_two_replicas_and_is_emailed_once(replicated: Any) -> None:
    mailbox = Mailbox()
    async with mail_server(mailbox) as smtp_port:
        svc = await replicated(
            "notifications", SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port), SMTP_TIMEOUT_SECONDS="5",
            FORUM_NAME="WSIS Forum 2020", REMINDER_LEAD_MINUTES=str(LEAD_MINUTES), REMINDER_POLL_SECONDS="0.2",
            EMAIL_POLL_SECONDS="0.2", EMAIL_BACKOFF_SECONDS="0.2", EMAIL_BACKOFF_MAX_SECONDS="1")
        address = "amina.diallo@example.org"
        await svc.publish(rev.ATTENDEES, rev.AttendeeUpdated(  # an update: no confirmation e-mail
            attendee_id="a1", name="Amina Diallo", email=address, country="SN", region="D", gender="female",
            stakeholder_type="civil-society", updated_at=datetime.now(UTC)), "a1")
        await eventually(lambda: svc.database["attendees"].find_one({"_id": "a1"}), timeout=WAIT)
        starts_at = datetime.now(UTC) + timedelta(seconds=30)
        await svc.publish(sev.AGENDA, scheduled("s1", starts_at), "s1")
        await svc.publish(sev.ENROLMENTS, sev.EnrolmentSeated(session_id="s1", attendee_id="a1",
                                                              at=datetime.now(UTC)), "s1")

        async def armed() -> bool:
            session = await svc.database["sessions"].find_one({"_id": "s1"})
            reminder = await svc.database["reminders"].find_one({"_id": "s1"})
            return bool(session and session.get("enrolled") == ["a1"] and reminder)

        await eventually(armed, timeout=WAIT)
        reminder = await svc.database["reminders"].find_one({"_id": "s1"})
        await eventually(lambda: _value(mailbox.received("session_reminder", address)), timeout=WAIT)
        due = reminder["due_at"].replace(tzinfo=UTC)

        # both replicas' schedulers run past the due time again: each fires probe reminders that fell due later
        async def fired_by_each() -> list[float]:
            return [await svc.metric(n, FIRED) for n in range(len(svc.urls))]

        probes: list[str] = []
        for _ in range(10):
            if all(count >= 2 for count in await fired_by_each()):  # the first reminder plus a probe, at least
                break
            start = datetime.now(UTC) + timedelta(minutes=LEAD_MINUTES, seconds=1)
            batch = [f"probe-{len(probes) + n}" for n in range(PROBES_PER_ROUND)]
            for n, probe in enumerate(batch):
                await svc.publish(sev.AGENDA, scheduled(probe, start + timedelta(milliseconds=300 * n)), probe)
            probes += batch

            async def probes_fired(batch: list[str] = batch) -> bool:
                return await svc.database["reminders"].count_documents(
                    {"_id": {"$in": batch}, "status": "fired"}) == len(batch)

            await eventually(probes_fired, timeout=WAIT)
        else:
            pytest.fail(f"one replica fired no reminder after the first (fired by each: {await fired_by_each()})")
        probe_dues = [p["due_at"].replace(tzinfo=UTC)
                      for p in await svc.database["reminders"].find({"_id": {"$in": probes}}).to_list(None)]
        assert len(probe_dues) == len(probes) and min(probe_dues) > due

        # nothing queued or being sent any more: every e-mail that will ever go has gone
        organiser = svc.token("org", "organiser")

        async def queue_idle() -> dict[str, Any] | None:
            lanes = (await svc.http.get(f"{svc.at(0)}/notifications/email/queue", headers=organiser)).json()["lanes"]
            busy = any(c["queued"] or c["sending"] for c in lanes.values())
            return None if busy else lanes

        lanes = await eventually(queue_idle, timeout=WAIT)
        for url in svc.urls:
            inbox = (await svc.http.get(f"{url}/notifications/inbox", headers=svc.token("a1"))).json()["items"]
            assert [i["kind"] for i in inbox] == ["session_reminder"]

    assert len(mailbox.received("session_reminder", address)) == 1, [m["Subject"] for m in mailbox.received()]
    assert len(mailbox.received()) == 1  # the probes had nobody to remind
    assert sum(c["sent"] for c in lanes.values()) == 1 and sum(c["dead"] for c in lanes.values()) == 0
    fired = await svc.database["reminders"].find_one({"_id": "s1"})
    assert fired["status"] == "fired" and fired["reminded"] == 1


async def _value(value: Any) -> Any:
    return value
