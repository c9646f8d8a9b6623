"""The registration service over HTTP against the real Kafka and Mongo-wire store."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from plenary_events import registration as ev
from plenary_events.topics import ensure_topics
from plenary_kit.envelope import Envelope
from plenary_kit.mongo import open_client
from plenary_kit.testing.apps import free_port, serve_app
from registration.app import build_app
from registration.config import Settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
BACKLOG = 120


def settings_for(infra: Any, topic_prefix: str, db: str, jwt_keys: tuple[str, str], **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": infra.kafka_bootstrap,
        "mongodb_uri": infra.mongodb_uri,
        "mongodb_database": db,
        "plenary_topic_prefix": topic_prefix,
        "jwt_private_key": jwt_keys[0],
        "jwt_public_key": jwt_keys[1],
        "outbox_poll_seconds": 0.2,
    }
    values.update(overrides)
    return Settings(**values)


def body(n: int, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": f"Kwame Mensah {n}", "email": f"kwame.{n}@example.org", "country": "GH", "gender": "male",
        "stakeholder_type": "technical-community", "organisation": "GhanaNIC", "languages": ["en"],
        "interests": {"action_lines": ["C2"], "sdgs": [9]}, "consents": {"directory": True},
    }
    data.update(overrides)
    return data


async def read_until(bootstrap: str, topic: str, done: Callable[[list[Envelope]], bool],
                     seconds: float = 30) -> list[Envelope]:
    """Every event of `topic` from the start, until `done(events)` holds (or the time runs out)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    seen: list[Envelope] = []
    try:
        async with asyncio.timeout(seconds):
            while not done(seen):
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    seen.extend(Envelope.from_record(r.key, r.value, r.headers) for r in records)
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return seen


async def test_registering_over_http_publishes_to_kafka_and_sign_in_works(
    infra: Any, topic_prefix: str, mongo_db_name: str, jwt_keys: tuple[str, str]
) -> None:
    await ensure_topics(infra.kafka_bootstrap, topic_prefix)
    # the relay's scan runs only at start here: what follows is published from the writes' hints alone
    app = build_app(settings_for(infra, topic_prefix, mongo_db_name, jwt_keys, outbox_poll_seconds=300))
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=15) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        registered = await client.post("/registration/attendees", json=body(1), headers={"Idempotency-Key": "k1"})
        assert registered.status_code == 201, registered.text
        attendee_id = registered.json()["attendee"]["id"]
        replay = await client.post("/registration/attendees", json=body(1), headers={"Idempotency-Key": "k1"})
        assert replay.status_code == 201 and replay.json()["attendee"]["id"] == attendee_id
        duplicate = await client.post("/registration/attendees", json=body(2, email="KWAME.1@example.org"))
        assert duplicate.status_code == 409

        # sign in with a code read from the topic the notifications service consumes
        asked = await client.post("/registration/signin/code", json={"email": "kwame.1@example.org"})
        assert asked.status_code == 202
        codes = await read_until(infra.kafka_bootstrap, f"{topic_prefix}{ev.SIGNIN}", lambda seen: len(seen) >= 1)
        assert [e.subject for e in codes] == [attendee_id]
        signed_in = await client.post("/registration/signin/token",
                                      json={"email": "kwame.1@example.org", "code": codes[0].data["code"]})
        assert signed_in.status_code == 200, signed_in.text
        headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        patched = await client.patch("/registration/attendees/me", json={"job_title": "CTO"}, headers=headers)
        assert patched.status_code == 200 and patched.json()["job_title"] == "CTO"
        assert (await client.delete("/registration/attendees/me", headers=headers)).status_code == 204

        topic = f"{topic_prefix}{ev.ATTENDEES}"
        events = await read_until(infra.kafka_bootstrap, topic, lambda seen: len(seen) >= 3)
        assert [e.type.rsplit(".", 2)[-2] for e in events] == ["registered", "updated", "erased"]
        assert {e.subject for e in events} == {attendee_id}
        registered_event = ev.AttendeeRegistered.model_validate(events[0].data)
        assert (registered_event.country, registered_event.region) == ("GH", "D")
        assert events[1].data["job_title"] == "CTO"
        # the relay clears exactly what it published: in the background, once the writes pause
        db_client = open_client(infra.mongodb_uri)
        try:
            async with asyncio.timeout(30):
                while True:
                    tombstone = await db_client[mongo_db_name]["attendees"].find_one({"_id": attendee_id})
                    if tombstone is not None and tombstone["_outbox"] == []:
                        break
                    await asyncio.sleep(0.2)
        finally:
            await db_client.close()
        assert "email" not in tombstone and "name" not in tombstone


async def test_writes_do_not_wait_for_kafka_and_nothing_is_lost(
    infra: Any, topic_prefix: str, mongo_db_name: str, jwt_keys: tuple[str, str]
) -> None:
    await ensure_topics(infra.kafka_bootstrap, topic_prefix)
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens here: Kafka is "down"
    down = build_app(settings_for(infra, topic_prefix, mongo_db_name, jwt_keys, kafka_bootstrap_servers=nowhere,
                                  register_rate_per_client=0))
    async with serve_app(down) as url, httpx.AsyncClient(base_url=url, timeout=15) as client:
        # a backlog: each registration waits in its own document while Kafka is down
        async with asyncio.timeout(120):  # a guard against hanging, not a measurement
            responses = [await client.post("/registration/attendees", json=body(n)) for n in range(BACKLOG)]
        assert {r.status_code for r in responses} == {201}
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"] == {"mongo": "up", "kafka": "down"}
    ids = {r.json()["attendee"]["id"] for r in responses}
    client_db = open_client(infra.mongodb_uri)
    try:
        waiting = await client_db[mongo_db_name]["attendees"].count_documents({"_outbox.0": {"$exists": True}})
        assert waiting == BACKLOG  # the events wait in the documents
    finally:
        await client_db.close()

    # the same database served with a working Kafka: the relay publishes what waited, once
    up = build_app(settings_for(infra, topic_prefix, mongo_db_name, jwt_keys))
    async with serve_app(up):
        events = await read_until(infra.kafka_bootstrap, f"{topic_prefix}{ev.ATTENDEES}",
                                  lambda seen: len(seen) >= BACKLOG, seconds=120)
        await asyncio.sleep(1)
        events += await read_until(infra.kafka_bootstrap, f"{topic_prefix}{ev.ATTENDEES}",
                                   lambda seen: False, seconds=1)
    assert {e.subject for e in events} == ids
    assert len({e.id for e in events}) == BACKLOG


async def test_the_bootstrap_command_makes_an_organiser_who_can_list_attendees(
    infra: Any, topic_prefix: str, mongo_db_name: str, jwt_keys: tuple[str, str]
) -> None:
    await ensure_topics(infra.kafka_bootstrap, topic_prefix)
    env = {**os.environ, "MONGODB_URI": infra.mongodb_uri, "MONGODB_DATABASE": mongo_db_name,
           "PLENARY_TOPIC_PREFIX": topic_prefix, "JWT_PRIVATE_KEY": jwt_keys[0], "JWT_PUBLIC_KEY": jwt_keys[1]}
    command = [sys.executable, "-m", "registration.cli", "bootstrap-organiser", "--email", "chair@example.org",
               "--name", "Forum Chair"]
    first = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=60,
                                    cwd=ROOT)
    assert first.returncode == 0, first.stderr
    created = json.loads(first.stdout)
    assert created["created"] and created["roles"] == ["attendee", "organiser"]
    again = await asyncio.to_thread(subprocess.run, [*command, "--output", "token"], env=env, capture_output=True,
                                    text=True, timeout=60, cwd=ROOT)
    assert again.returncode == 0 and "existing attendee is an organiser" in again.stderr
    token = again.stdout.strip()

    app = build_app(settings_for(infra, topic_prefix, mongo_db_name, jwt_keys))
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=15) as client:
        await client.post("/registration/attendees", json=body(1))
        listed = await client.get("/registration/attendees", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200, listed.text
        assert [i["name"] for i in listed.json()["items"]] == ["Forum Chair", "Kwame Mensah 1"]
        exported = await client.get("/registration/attendees.csv", headers={"Authorization": f"Bearer {token}"})
        assert exported.status_code == 200 and exported.text.count("\n") == 3
        # the command wrote its event through the outbox: the service's relay publishes it
        events = await read_until(infra.kafka_bootstrap, f"{topic_prefix}{ev.ATTENDEES}",
                                  lambda seen: len(seen) >= 2)
    assert created["attendee_id"] in {e.subject for e in events}
