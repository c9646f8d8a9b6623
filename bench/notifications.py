"""Notifications at forum scale: an announcement to 15,000 attendees, and 10,000 reminders due at the same moment.

The notifications service and the gateway run as real processes; an SMTP sink (aiosmtpd, in this process, on its
own thread) counts what it is handed. The 15,000 attendees reach the service the way it learns about people: as
AttendeeRegistered events on the registration topic (the real event model, produced with the kit's publisher).
Registering them through the gateway would take minutes at the rate the `registration` bench measures, and the
notifications service cannot tell the difference. Their registration dates are a month old, so nobody gets a
welcome email (an old registration read again gets none), and the announcement is the only traffic.

1. Announcement: an organiser posts one announcement to everyone through the gateway. Printed: the time until the
   last inbox entry is written (the announcement's status turns `sent` once every page of people has its inbox,
   live and email documents; a count of the inbox checks it), until the last email is handed to SMTP (the sink's
   count reaches 15,000), the throughput of each, and the service's RSS.
2. Reminders: 20 sessions with 500 people seated in each (EnrolmentSeated events, as the sessions service publishes
   them), all starting at the same minute, so 10,000 reminders fall due at the same instant. Printed: how late they
   fire, p50/p99/max seconds from the due time to the inbox entry and to the email reaching the sink.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiosmtpd.controller import Controller
from plenary_demo.population import generate_attendees
from plenary_events import registration as rev
from plenary_events import sessions as sev
from plenary_events.reference import region_of
from plenary_events.registry import load_all
from plenary_kit.auth import TokenIssuer
from plenary_kit.kafka import KafkaPublisher
from plenary_kit.mongo import open_client
from plenary_kit.testing.apps import free_port
from pymongo.errors import PyMongoError

from bench.common import figure, header, percentile, rss_mib, service_stack

NAME = "notifications"
ORDER = 40
PEOPLE = 15_000
SESSIONS, SEATS = 20, 500  # 10,000 reminders
REMINDER_LEAD_MINUTES = 1.0
KIND_HEADER = b"\nX-Plenary-Kind: "
REGISTRY = load_all()


class Sink:
    """An SMTP server that accepts everything and records when each message of each kind arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = defaultdict(list)  # kind -> time.time() of each message
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.content
        at = content.find(KIND_HEADER)
        kind = content[at + len(KIND_HEADER):content.find(b"\n", at + 1)].strip().decode() if at >= 0 else "?"
        with self.lock:
            self.arrivals[kind].append(time.time())
        return "250 OK"

    def count(self, kind: str) -> int:
        with self.lock:
            return len(self.arrivals[kind])

    def times(self, kind: str) -> list[float]:
        with self.lock:
            return list(self.arrivals[kind])


class RssSampler:
    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.peak = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, self.now())
            await asyncio.sleep(0.5)

    def now(self) -> float:
        try:
            return rss_mib(self.pid) if self.pid else float("nan")
        except OSError:
            return float("nan")

    def __enter__(self) -> RssSampler:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()


async def wait_for(check: Any, timeout: float, what: str, every: float = 0.25) -> float:
    """Poll `check()` until true; returns the time.time() when it was. Raises after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if await check():
                return time.time()
        except (PyMongoError, aiohttp.ClientError, TimeoutError):
            pass  # a busy machine: ask again
        await asyncio.sleep(every)
    raise TimeoutError(f"{what}: not done after {timeout:.0f} s")


class Lag:
    """How far a consumer group of the service is behind a topic (end offsets minus committed offsets): waiting for
    zero says the service has seen every event, which a count of documents cannot."""

    def __init__(self, bootstrap: str) -> None:
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def __aenter__(self) -> Lag:
        await self.admin.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def behind(self, group: str, topic: str) -> int:
        [described] = await self.admin.describe_topics([topic])
        partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        if not partitions:
            raise RuntimeError(f"topic {topic} has no partitions")
        ends = await self.consumer.end_offsets(partitions)
        committed = await self.admin.list_consumer_group_offsets(group, partitions=partitions)
        return sum(end - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0)
                   for tp, end in ends.items())


def people_events(n: int) -> list[rev.AttendeeRegistered]:
    month_ago = datetime.now(UTC) - timedelta(days=30)
    tag = uuid.uuid4().hex[:6]
    out = []
    for i, body in enumerate(generate_attendees(n, seed=2020)):
        out.append(rev.AttendeeRegistered(
            attendee_id=f"bench-{tag}-{i:05d}", name=body["name"], email=body["email"].replace("@", f".{tag}@"),
            country=body["country"], region=region_of(body["country"]), gender=body["gender"],
            stakeholder_type=body["stakeholder_type"], organisation=body.get("organisation", ""),
            job_title=body.get("job_title", ""), languages=body.get("languages", []), registered_at=month_ago))
    return out


async def produce(publisher: KafkaPublisher, topic: str, events: list[tuple[Any, str]], chunk: int = 2000) -> None:
    for start in range(0, len(events), chunk):
        await publisher.publish_batch([(topic, REGISTRY.envelope(data, source="/bench", subject=subject))
                                       for data, subject in events[start:start + chunk]])


def seconds(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (f"p50 {percentile(values, 50):.2f} s  p99 {percentile(values, 99):.2f} s  max {max(values):.2f} s"
            f"  (n={len(values):,})")


async def announcement(gateway: str, token: str, db: Any, sink: Sink, pid: int | None) -> None:
    header(f"Announcement to everyone ({PEOPLE:,} attendees) through the gateway")
    headers = {"Authorization": f"Bearer {token}"}
    with RssSampler(pid) as rss:
        before = rss.now()
        async with aiohttp.ClientSession(headers=headers) as http:
            t0 = time.time()
            async with http.post(f"{gateway}/api/notifications/announcements",
                                 json={"title": "The High-Level Track opens at 09:00 UTC",
                                       "body": "Join the opening ceremony from the agenda page.",
                                       "link": "/agenda"}) as response:
                body = await response.json()
                if response.status != 202:
                    raise RuntimeError(f"the announcement was refused: {response.status} {body}")
            accepted = time.time() - t0
            url = f"{gateway}/api/notifications/announcements/{body['id']}"

            async def sent() -> bool:
                async with http.get(url) as r:
                    return r.status == 200 and (await r.json())["status"] == "sent"

            inbox_done = await wait_for(sent, 1800, "announcement fan-out", every=0.1)
        email_done = await wait_for(lambda: _true(sink.count("announcement") >= PEOPLE), 3600, "last email",
                                    every=0.1)
        arrivals = sink.times("announcement")
        first_email, email_done = min(arrivals), max(arrivals[:PEOPLE])
        inbox = await db["inbox"].count_documents({"kind": "announcement"})
        peak, after = rss.peak, rss.now()
    fan_out, mail = inbox_done - t0, email_done - t0
    figure("POST /api/notifications/announcements answered in", f"{accepted * 1000:.0f}", "ms")
    figure("last inbox entry written (status sent) after", f"{fan_out:.1f}", "s")
    figure("inbox entries written", f"{inbox:,} ({inbox / fan_out:,.0f} per second)")
    figure("first email handed to SMTP after", f"{first_email - t0:.1f}", "s")
    figure("last email handed to SMTP after", f"{mail:.1f}", "s")
    figure("emails received by the sink", f"{len(arrivals):,} ({PEOPLE / mail:,.0f} per second overall)")
    figure("notifications RSS before / peak / after", f"{before:.0f} / {peak:.0f} / {after:.0f}", "MiB")


async def reminders(publisher: KafkaPublisher, lag: Lag, prefix: str, people: list[str], db: Any, sink: Sink,
                    pid: int | None) -> None:
    total = SESSIONS * SEATS
    header(f"{total:,} reminders due at the same moment ({SESSIONS} sessions x {SEATS} seats, "
           f"lead {REMINDER_LEAD_MINUTES:g} min)")
    seats = [(sev.EnrolmentSeated(session_id=f"s{i % SESSIONS:02d}", attendee_id=attendee, at=datetime.now(UTC)),
              f"s{i % SESSIONS:02d}") for i, attendee in enumerate(people[:total])]
    t0 = time.time()
    await produce(publisher, f"{prefix}{sev.ENROLMENTS}", seats)

    async def projected() -> bool:
        return await lag.behind(f"{prefix}notifications.sessions", f"{prefix}{sev.ENROLMENTS}") == 0

    await wait_for(projected, 1800, "enrolments projected", every=1.0)
    docs = await db["sessions"].find({}, {"enrolled": 1}).to_list(None)
    seated = sum(len(d.get("enrolled") or []) for d in docs)
    if seated != total:
        raise RuntimeError(f"the service holds {seated} seats, not {total}")
    figure("seats projected by the service (EnrolmentSeated events)", f"{time.time() - t0:.1f} s "
                                                                        f"({total / (time.time() - t0):,.0f}/s)")
    due = (datetime.now(UTC) + timedelta(seconds=20)).replace(microsecond=0)
    starts = due + timedelta(minutes=REMINDER_LEAD_MINUTES)
    await produce(publisher, f"{prefix}{sev.AGENDA}", [(sev.SessionScheduled(
        session_id=f"s{n:02d}", title=f"Thematic workshop {n}", type="thematic-workshop", starts_at=starts,
        ends_at=starts + timedelta(hours=1)), f"s{n:02d}") for n in range(SESSIONS)])

    async def armed() -> bool:
        return await lag.behind(f"{prefix}notifications.sessions", f"{prefix}{sev.AGENDA}") == 0

    await wait_for(armed, 600, "reminders armed", every=0.5)
    if datetime.now(UTC) >= due:
        print("  (the reminders were armed after their due time: the figures include the late arming)")
    with RssSampler(pid) as rss:
        await wait_for(lambda: _true(sink.count("session_reminder") >= total), 3600, "reminder emails", every=0.2)
        peak = rss.peak
    docs = await db["inbox"].find({"kind": "session_reminder"}, {"created_at": 1}).to_list(None)
    at = due.timestamp()
    inbox_late = [d["created_at"].replace(tzinfo=UTC).timestamp() - at for d in docs]
    email_late = [t - at for t in sink.times("session_reminder")]
    figure("due -> inbox entry", seconds(inbox_late))
    figure("due -> email handed to SMTP", seconds(email_late))
    figure("notifications RSS peak while sending", f"{peak:.0f}", "MiB")


async def _true(value: bool) -> bool:
    return value


async def run(infra: Any) -> None:
    sink = Sink()
    smtp_port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "REMINDER_LEAD_MINUTES": str(REMINDER_LEAD_MINUTES),
           "PUBLIC_BASE_URL": "https://forum.example.org", "FORUM_NAME": "WSIS Forum 2020"}
    publisher = KafkaPublisher(infra.kafka_bootstrap, client_id="bench-notifications")
    mongo = open_client(infra.mongodb_uri, timeout_ms=40_000)  # counts over 15,000 documents on a busy machine
    try:
        async with service_stack(infra, ["notifications", "gateway"], env) as stack, \
                Lag(infra.kafka_bootstrap) as lag:
            db = mongo[f"{stack.prefix.replace('.', '_')}notifications"]
            pid = stack.processes["notifications"].pid()
            token = TokenIssuer(stack.keys[0], issuer="plenary", audience="plenary").issue_access(
                "bench-organiser", ["organiser"])
            await publisher.start()
            header(f"{PEOPLE:,} attendees for the notifications service")
            print("  (produced as AttendeeRegistered events on the registration topic with the kit's publisher, "
                  "not registered through the gateway: see the `registration` bench for that rate)")
            events = people_events(PEOPLE)
            t0 = time.time()
            await produce(publisher, f"{stack.prefix}{rev.ATTENDEES}", [(e, e.attendee_id) for e in events])
            produced = time.time() - t0

            async def known() -> bool:
                return await lag.behind(f"{stack.prefix}notifications.registration",
                                        f"{stack.prefix}{rev.ATTENDEES}") == 0

            await wait_for(known, 1800, "attendees projected", every=1.0)
            took = time.time() - t0
            figure("events produced in", f"{produced:.1f}", "s")
            figure("people in the service's directory after", f"{took:.1f} s ({PEOPLE / took:,.0f}/s)")
            await announcement(stack.url("gateway"), token, db, sink, pid)
            await reminders(publisher, lag, stack.prefix, [e.attendee_id for e in events], db, sink, pid)
    finally:
        await publisher.stop()
        await mongo.close()
        controller.stop()
