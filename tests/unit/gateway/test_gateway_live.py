"""Live updates: routing events to channels, who may listen, fan-out, slow clients, Last-Event-ID replay."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import httpx
import pytest
from gateway import live
from gateway.feeds import FactsRelay, KafkaLiveFeed
from gateway.hub import LiveHub
from gateway.sse import SseEvent
from plenary_events.registry import load_all
from plenary_kit.auth import Principal, TokenIssuer
from plenary_kit.envelope import Envelope
from plenary_kit.problems import ProblemError
from prometheus_client import REGISTRY

if TYPE_CHECKING:
    from conftest import AsgiCall


def metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def frames(text: str) -> list[dict[str, str]]:
    """The events of an SSE text (comments and retry lines left out)."""
    events = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":") or not line:
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if "data" in fields:
            events.append(fields)
    return events


def publish(hub: LiveHub, channels: list[str], n: int) -> None:
    hub.publish(channels, "test.event", json.dumps({"n": n}).encode())


# -- routing ------------------------------------------------------------------------------------------------

def test_events_are_routed_by_type_prefix_and_data_fields() -> None:
    assert live.channels_for("org.plenary.sessions.question.asked.v1",
                             {"session_id": "s1", "attendee_id": "a1", "text": "Why?"}) == ["session:s1"]
    assert live.channels_for("org.plenary.networking.message.sent.v1",
                             {"conversation_id": "c1", "recipient_ids": ["a1", "a2"]}) == ["user:a1", "user:a2"]
    assert live.channels_for("org.plenary.notifications.delivered.v1", {"recipient_id": "a9"}) == ["user:a9"]
    # no prefix matches: the default fields apply
    assert live.channels_for("org.plenary.other.thing.v1", {"session_id": "s2", "recipient_id": "a3"}) == [
        "session:s2", "user:a3"]
    assert live.channels_for("org.plenary.sessions.session.updated.v1", {"title": "no id"}) == []
    # joins and leaves reach nobody (viewers get the counts); a more specific prefix wins
    assert live.channels_for("org.plenary.sessions.attendee.joined.v1", {"session_id": "s1", "attendee_id": "a1"}) == []
    assert live.channels_for("org.plenary.sessions.viewers.counted.v1", {"session_id": "s1", "viewers": 3}) == [
        "session:s1"]


def test_the_routing_table_is_easy_to_extend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(live.ROUTES, "org.plenary.sessions.enrolment.", ("attendee_id",))
    assert live.channels_for("org.plenary.sessions.enrolment.waitlisted.v1",
                             {"session_id": "s1", "attendee_id": "a1"}) == ["user:a1"]
    assert live.channels_for("org.plenary.sessions.question.asked.v1", {"session_id": "s1"}) == ["session:s1"]


def test_what_browsers_see_leaves_out_secrets_and_the_author_of_anonymous_questions() -> None:
    envelope = Envelope.new("org.plenary.sessions.question.asked.v1", source="/t", subject="q1", data={
        "session_id": "s1", "question_id": "q1", "text": "Why?", "anonymous": True, "attendee_id": "a1",
        "author_name": "Ada", "email": "ada@example.org"})
    body = json.loads(live.encode(envelope))
    assert body["id"] == envelope.id and body["type"] == envelope.type
    assert body["data"] == {"session_id": "s1", "question_id": "q1", "text": "Why?", "anonymous": True}
    named = live.public_data({"session_id": "s1", "attendee_id": "a1", "anonymous": False, "email": "x@y.z"})
    assert named == {"session_id": "s1", "attendee_id": "a1", "anonymous": False}


# -- channels and who may listen ----------------------------------------------------------------------------

def test_channel_names_are_checked() -> None:
    assert live.parse_channels("session:s1, facts,session:s1,user:a1") == ["session:s1", "facts", "user:a1"]
    for raw, words in [("", "at least one"), ("room:1", "is not a channel"), ("session:", "valid session id"),
                       ("session:a b", "valid session id"), ("facts:1", "is not a channel")]:
        with pytest.raises(ProblemError) as err:
            live.parse_channels(raw)
        assert err.value.status == 400 and words in err.value.detail
    with pytest.raises(ProblemError):
        live.parse_channels(",".join(f"session:s{n}" for n in range(5)), limit=4)


def test_only_that_person_may_listen_to_a_user_channel() -> None:
    live.authorize(["session:s1", "facts"], None)
    live.authorize(["user:a1"], Principal(sub="a1"))
    with pytest.raises(ProblemError) as anonymous:
        live.authorize(["user:a1"], None)
    assert anonymous.value.status == 401
    with pytest.raises(ProblemError) as other:
        live.authorize(["session:s1", "user:a1"], Principal(sub="a2", roles=frozenset({"organiser"})))
    assert other.value.status == 403 and "user:a2" in other.value.detail


# -- the hub --------------------------------------------------------------------------------------------------

async def test_an_event_reaches_each_matching_connection_once_and_no_other() -> None:
    hub = LiveHub(replica_id="r1")
    a = hub.connect(["session:s1"])
    b = hub.connect(["session:s2"])
    c = hub.connect(["session:s1", "user:u1"])
    for conn in (a, b, c):
        await conn.next_chunk()  # the `ready` event
    before = metric("plenary_gateway_events_fanned_out_total")
    assert hub.publish(["session:s1", "user:u1"], "test.event", b'{"n":1}') == 2
    assert metric("plenary_gateway_events_fanned_out_total") - before == 2
    chunk_a, chunk_c = await a.next_chunk(), await c.next_chunk()
    assert chunk_a == chunk_c  # one frame, serialised once, shared
    assert [f["data"] for f in frames(chunk_c.decode())] == ['{"n":1}']
    assert b.pending == 0
    hub.publish(["user:u1"], "test.event", b'{"n":2}')
    assert (a.pending, b.pending, c.pending) == (0, 0, 1)


async def test_a_slow_client_is_dropped_instead_of_buffering_without_bound() -> None:
    hub = LiveHub(replica_id="r1", queue_size=3)
    slow = hub.connect(["session:s1"])  # never reads: its `ready` frame takes one place
    fast = hub.connect(["session:s1"])
    before = metric("plenary_gateway_slow_clients_dropped_total")
    for n in range(5):
        publish(hub, ["session:s1"], n)
        await fast.next_chunk()
    assert slow.dropped and slow.closed
    assert slow not in hub.connections and hub.subscribers("session:s1") == 1
    assert await slow.next_chunk() is None  # its stream ends at once; nothing queued is kept
    assert metric("plenary_gateway_slow_clients_dropped_total") - before == 1
    assert not fast.dropped


async def test_last_event_id_replays_what_was_missed_on_the_channels_listened_to() -> None:
    hub = LiveHub(replica_id="r1")
    publish(hub, ["session:s1"], 1)
    last_seen = hub.last_id
    publish(hub, ["session:s1"], 2)
    publish(hub, ["session:s2"], 3)  # another channel: not replayed
    publish(hub, ["user:u1", "session:s1"], 4)  # on both: replayed once
    conn = hub.connect(["session:s1", "user:u1"], last_event_id=last_seen)
    events = frames((await conn.next_chunk() or b"").decode())
    assert [e["data"] for e in events[:-1]] == ['{"n": 2}', '{"n": 4}']
    assert [e["id"] for e in events[:-1]] == ["r1-2", "r1-4"]
    assert events[-1]["event"] == "ready" and events[-1]["id"] == "r1-4"


async def test_a_resume_that_cannot_be_replayed_gets_a_reset_event() -> None:
    hub = LiveHub(replica_id="r1", replay_size=2)
    for n in range(4):
        publish(hub, ["session:s1"], n)
    too_old = hub.connect(["session:s1"], last_event_id="r1-1")  # r1-2 fell out of the ring buffer
    other_replica = hub.connect(["session:s1"], last_event_id="r9-3")
    fine = hub.connect(["session:s1"], last_event_id="r1-2")
    for conn in (too_old, other_replica):
        events = frames((await conn.next_chunk() or b"").decode())
        assert [e["event"] for e in events] == ["reset", "ready"]
        assert events[0]["id"] == "r1-4"  # the client's Last-Event-ID moves on to now
    assert [e["id"] for e in frames((await fine.next_chunk() or b"").decode())] == ["r1-3", "r1-4", "r1-4"]


async def test_connections_end_when_their_token_expires_and_others_get_a_ping() -> None:
    now = 1000.0
    hub = LiveHub(replica_id="r1", clock=lambda: now)
    expiring = hub.connect(["user:u1"], expires_at=now + 60)
    public = hub.connect(["facts"])
    for conn in (expiring, public):
        await conn.next_chunk()
    hub.heartbeat()
    assert (await public.next_chunk()) == b": ping\n\n" and (await expiring.next_chunk()) == b": ping\n\n"
    now += 61
    hub.heartbeat()
    assert [e["event"] for e in frames((await expiring.next_chunk() or b"").decode())] == ["reauth"]
    assert await expiring.next_chunk() is None and expiring not in hub.connections


async def test_a_served_connection_gets_events_written_for_it_in_order_one_write_per_flush() -> None:
    hub = LiveHub(replica_id="r1", queue_size=10)
    conn = hub.connect(["session:s1"])
    writes: list[bytes] = []
    held = asyncio.Event()
    hold_next = False

    async def write(chunk: bytes) -> None:
        writes.append(chunk)
        if hold_next:  # this client's socket is full: the write waits until it reads
            await held.wait()

    serving = asyncio.create_task(conn.serve(write, hub.schedule_flush))
    await asyncio.sleep(0)
    assert [e["event"] for e in frames(writes.pop().decode())] == ["ready"]
    for n in (1, 2, 3):  # published together (a batch from Kafka): one write
        publish(hub, ["session:s1"], n)
    await asyncio.sleep(0)
    assert [e["data"] for e in frames(writes.pop().decode())] == ['{"n": 1}', '{"n": 2}', '{"n": 3}']
    assert conn.task is serving and not writes

    hold_next = True
    publish(hub, ["session:s1"], 4)
    await asyncio.sleep(0)
    assert conn.sending and len(writes) == 1  # the write of 4 waits for the client
    hold_next = False
    for n in (5, 6):
        publish(hub, ["session:s1"], n)
    await asyncio.sleep(0)
    assert len(writes) == 1 and conn.pending == 2  # queued behind the waiting write, not written past it
    held.set()
    for _ in range(3):
        await asyncio.sleep(0)
    assert [[e["data"] for e in frames(w.decode())] for w in writes] == [['{"n": 4}'], ['{"n": 5}', '{"n": 6}']]
    assert not conn.sending and conn.pending == 0

    conn.close("test", b"event: bye\ndata: {}\n\n")  # the stream ends after writing what is left
    await asyncio.wait_for(serving, 5)
    assert writes[-1] == b"event: bye\ndata: {}\n\n"


async def test_a_large_flush_is_written_in_slices_and_each_connection_still_gets_every_frame_once_in_order() -> None:
    hub = LiveHub(replica_id="r1", flush_slice=2)
    writes: dict[int, list[str]] = {i: [] for i in range(5)}

    def writer(i: int):
        async def write(chunk: bytes) -> None:
            writes[i].extend(e["data"] for e in frames(chunk.decode()) if e.get("event") != "ready")
        return write

    conns = [hub.connect(["session:s1"]) for _ in range(5)]
    serving = [asyncio.create_task(c.serve(writer(i), hub.schedule_flush)) for i, c in enumerate(conns)]
    await asyncio.sleep(0)
    publish(hub, ["session:s1"], 1)
    await asyncio.sleep(0)  # the first slice went out
    assert sum(bool(w) for w in writes.values()) == 2
    publish(hub, ["session:s1"], 2)  # while the rest of the first flush still waits
    for _ in range(10):
        await asyncio.sleep(0)
    assert all(w == ['{"n": 1}', '{"n": 2}'] for w in writes.values()), writes
    hub.close_all()
    await asyncio.gather(*serving)


# -- feeds ------------------------------------------------------------------------------------------------------

async def test_a_kafka_record_reaches_the_connections_of_its_channel() -> None:
    hub = LiveHub(replica_id="r1")
    feed = KafkaLiveFeed(hub, load_all(), bootstrap_servers="unused:9", topics=["t.sessions.qa"], group_id="g")
    viewer = hub.connect(["session:s1"])
    await viewer.next_chunk()
    envelope = Envelope.new("org.plenary.sessions.question.asked.v1", source="/plenary/sessions", subject="q1",
                            data={"session_id": "s1", "question_id": "q1", "text": "Why?"})
    assert feed.handle(*envelope.to_record()) == 1
    (event,) = frames((await viewer.next_chunk() or b"").decode())
    assert event["event"] == "org.plenary.sessions.question.asked.v1"
    assert json.loads(event["data"])["data"]["text"] == "Why?"
    assert feed.handle(b"k", b"not json", [("ce_id", b"1")]) == 0  # not an event: skipped, not fatal


async def test_the_facts_stream_of_the_stats_service_is_rebroadcast_on_facts() -> None:
    async def stream(request: httpx.Request) -> httpx.Response:
        async def body():
            yield b'id: 7\nevent: facts\ndata: {"attendees": 15000}\n\n'
            yield b": keep-alive\n\nid: 8\nevent: facts\ndata: {\"attendees\":\n"
            yield b'data: 15001}\n\n'
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    hub = LiveHub(replica_id="r1")
    viewer = hub.connect(["facts"])
    await viewer.next_chunk()
    async with httpx.AsyncClient(transport=httpx.MockTransport(stream)) as client:
        relay = FactsRelay(hub, client, "http://stats.test/stats/facts/stream")
        await relay.run_once()
    events = frames((await viewer.next_chunk() or b"").decode())
    assert [json.loads(e["data"]) for e in events] == [
        {"type": "facts", "id": "7", "data": {"attendees": 15000}},
        {"type": "facts", "id": "8", "data": {"attendees": 15001}},
    ]
    assert relay.last_id == "8"
    # the same snapshot again (the upstream stream was reopened) is not sent twice
    assert relay.handle(SseEvent(data='{"attendees":\n15001}', event="facts", id="8")) == 0
    # someone who starts listening now gets the latest facts at once
    latecomer = hub.connect(["facts"])
    events = frames((await latecomer.next_chunk() or b"").decode())
    assert [e["event"] for e in events] == ["facts", "ready"]
    assert json.loads(events[0]["data"])["data"] == {"attendees": 15001}


# -- the /api/live endpoint, driven through the ASGI app ------------------------------------------------------

async def test_live_endpoint_streams_events_and_forgets_the_client_on_disconnect(app, asgi_call) -> None:
    hub: LiveHub = app.state.gateway.hub
    call: AsgiCall = asgi_call(app, "/api/live", "channels=session:s1").start()
    start = await call.response_start()
    assert start["status"] == 200
    assert dict(start["headers"])[b"content-type"].startswith(b"text/event-stream")
    assert "event: ready" in await call.body_until("event: ready")
    assert hub.subscribers("session:s1") == 1 and metric("plenary_gateway_sse_connections") == 1
    publish(hub, ["session:s2"], 1)
    publish(hub, ["session:s1"], 2)
    received = frames(await call.body_until('{"n": 2}'))
    assert [e["data"] for e in received] == ['{"n": 2}']
    await call.disconnect()
    assert hub.subscribers("session:s1") == 0 and not hub.connections
    assert metric("plenary_gateway_sse_connections") == 0


async def test_live_endpoint_replays_after_last_event_id(app, asgi_call) -> None:
    hub: LiveHub = app.state.gateway.hub
    publish(hub, ["session:s1"], 1)
    last = hub.last_id
    publish(hub, ["session:s1"], 2)
    call = asgi_call(app, "/api/live", "channels=session:s1", headers={"last-event-id": last}).start()
    await call.response_start()
    text = await call.body_until("event: ready")
    assert frames(text)[0]["data"] == '{"n": 2}'
    await call.disconnect()


async def test_live_endpoint_checks_who_listens_to_a_user_channel(app, asgi_call, issuer: TokenIssuer) -> None:
    anonymous = await asgi_call(app, "/api/live", "channels=user:a1").start().read_json()
    assert anonymous["status"] == 401
    other = await asgi_call(app, "/api/live", "channels=user:a1",
                            headers={"authorization": f"Bearer {issuer.issue_access('a2', [])}"}).start().read_json()
    assert other["status"] == 403
    bad = await asgi_call(app, "/api/live", "channels=user:a1&access_token=forged").start().read_json()
    assert bad["status"] == 401
    # EventSource cannot send headers: the token may come as ?access_token=
    own = asgi_call(app, "/api/live", f"channels=user:a1&access_token={issuer.issue_access('a1', [])}").start()
    assert (await own.response_start())["status"] == 200
    await own.body_until("event: ready")
    await own.disconnect()


async def test_live_endpoint_drops_a_client_that_stopped_reading(make_app, asgi_call) -> None:
    app = make_app(gateway_sse_queue_size=5)
    hub: LiveHub = app.state.gateway.hub
    # the client reads the headers and the first chunks, then stops reading: the next write blocks
    call = asgi_call(app, "/api/live", "channels=session:s1", block_sends_after=3).start()
    await call.response_start()
    await call.body_until("event: ready")
    publish(hub, ["session:s1"], 0)
    await asyncio.wait_for(call.blocked.wait(), 5)
    for n in range(1, 10):
        publish(hub, ["session:s1"], n)
    assert call.task is not None
    await asyncio.wait_for(call.task, 5)  # the response ended instead of waiting on the client for ever
    assert not hub.connections and hub.subscribers("session:s1") == 0


async def test_bad_channel_requests_are_problems(app, asgi_call) -> None:
    missing = await asgi_call(app, "/api/live", "").start().read_json()
    assert missing["status"] == 422 and missing["errors"][0]["field"] == "channels"
    wrong = await asgi_call(app, "/api/live", "channels=room:1").start().read_json()
    assert wrong["status"] == 400 and "is not a channel" in wrong["detail"]


async def test_replay_memory_is_bounded_and_a_forgotten_channel_resumes_with_a_reset() -> None:
    hub = LiveHub(replica_id="r1", replay_size=10, max_buffered_frames=5)
    publish(hub, ["user:a1"], 0)
    since = hub.last_id
    publish(hub, ["user:a1"], 1)
    for n in range(5):
        publish(hub, [f"user:b{n}"], n)  # five other people's events push a1's out
    events = frames((await hub.connect(["user:a1"], last_event_id=since).next_chunk() or b"").decode())
    assert [e["event"] for e in events] == ["reset", "ready"]
    quiet = frames((await hub.connect(["session:never"], last_event_id=hub.last_id).next_chunk() or b"").decode())
    assert [e["event"] for e in quiet] == ["ready"]  # nothing happened there since: nothing to reset


async def test_the_live_events_of_the_services_reach_the_right_people() -> None:
    from datetime import UTC, datetime

    from plenary_events import networking, notifications, sessions

    registry = load_all()
    hub = LiveHub(replica_id="r1")
    feed = KafkaLiveFeed(hub, registry, bootstrap_servers="unused:9", topics=[], group_id="g")
    viewer, ada, bob = hub.connect(["session:s1"]), hub.connect(["user:ada"]), hub.connect(["user:bob"])
    for conn in (viewer, ada, bob):
        await conn.next_chunk()
    now = datetime.now(UTC)

    def send(data, subject: str) -> int:
        return feed.handle(*registry.envelope(data, source="/t", subject=subject).to_record())

    assert send(sessions.QuestionAsked(question_id="q1", session_id="s1", text="Why?", anonymous=True,
                                       asked_at=now), "s1") == 1
    assert send(sessions.AttendeeJoined(session_id="s1", attendee_id="ada", first_time=True, at=now), "s1") == 0
    assert send(notifications.NotificationDelivered(notification_id="n1", recipient_id="bob", channel="user:bob",
                                                    kind="announcement", title="Welcome", created_at=now), "bob") == 1
    message = networking.MessageSent(message_id="m1", conversation_id="c1", author_id="ada", text="Hello",
                                     sent_at=now, recipient_ids=["ada", "bob"])
    assert send(message, "c1") == 2
    received = {name: [e["event"].split(".")[-3] for e in frames((await conn.next_chunk() or b"").decode())]
                for name, conn in (("viewer", viewer), ("ada", ada), ("bob", bob))}
    assert received == {"viewer": ["question"], "ada": ["message"], "bob": ["notification", "message"]}
