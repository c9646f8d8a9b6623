"""The foundation's promises, checked through the gateway against real processes, Kafka and document store."""

from __future__ import annotations

import asyncio
import random
import signal

import httpx
import pytest
from plenary_demo.population import generate_attendees
from plenary_kit.stack.processes import StackPaths, find_root
from plenary_kit.testing.stack_fixtures import InfraPair
from plenary_kit.testing.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

# these tests stream thousands of registrations from one client: the per-client limit is not under test here
UNLIMITED = {"REGISTER_RATE_PER_CLIENT": "0"}


async def total_attendees(http: httpx.AsyncClient, gateway: str) -> int:
    response = await http.get(f"{gateway}/api/stats/facts")
    response.raise_for_status()
    return int(response.json()["attendees"]["total"])


async def register_all(http: httpx.AsyncClient, gateway: str, bodies: list[dict], concurrency: int = 32) -> int:
    """POST every body; return how many were accepted (201)."""
    queue = list(reversed(bodies))
    accepted = 0

    async def worker() -> None:
        nonlocal accepted
        while queue:
            body = queue.pop()
            # like a careful client: one Idempotency-Key per person, so a retry after a timeout is safe
            headers = {"Idempotency-Key": f"e2e-{body['email']}"}
            response = None
            for _ in range(30):  # retry what was refused for the moment (429, 503) or timed out
                try:
                    response = await http.post(f"{gateway}/api/registration/attendees", json=body, headers=headers)
                except httpx.HTTPError:
                    await asyncio.sleep(1)
                    continue
                if response.status_code not in (429, 502, 503, 504):
                    break
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
            if response is not None and response.status_code == 201:
                accepted += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return accepted


async def test_a_registration_flows_through_every_part_and_is_counted(make_stack, http) -> None:
    stack = await make_stack(["registration", "stats", "gateway"], **UNLIMITED)
    gateway = stack.url("gateway")
    body = generate_attendees(1000, seed=7)[0]
    response = await http.post(f"{gateway}/api/registration/attendees", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["access_token"]
    assert await eventually(lambda: _equals(http, gateway, 1), timeout=30)


async def _equals(http: httpx.AsyncClient, gateway: str, n: int) -> bool:
    return await total_attendees(http, gateway) == n


async def test_stats_killed_mid_stream_loses_and_doubles_nothing(make_stack, http) -> None:
    stack = await make_stack(["registration", "stats", "gateway"], **UNLIMITED)
    gateway = stack.url("gateway")
    bodies = generate_attendees(5000, seed=41)
    random.Random(1).shuffle(bodies)
    streaming = asyncio.create_task(register_all(http, gateway, bodies))

    await eventually(lambda: _at_least(http, gateway, 500), timeout=120)
    stack.kill("stats", signal.SIGKILL)  # no shutdown hook, no final commit
    await asyncio.sleep(2)
    await stack.astart(["stats"])  # restart while registrations still stream in
    accepted = await streaming
    assert accepted == 5000

    try:
        await eventually(lambda: _equals(http, gateway, accepted), timeout=240)
    except TimeoutError:
        pytest.fail(f"stats counts {await total_attendees(http, gateway)} of {accepted} accepted registrations")
    await asyncio.sleep(3)  # a late duplicate would show up now
    assert await total_attendees(http, gateway) == accepted


async def _at_least(http: httpx.AsyncClient, gateway: str, n: int) -> bool:
    try:
        return await total_attendees(http, gateway) >= n
    except httpx.HTTPError:
        return False


async def test_with_kafka_down_writes_are_kept_and_published_when_it_returns(make_stack, http) -> None:
    # a Kafka and document store of this test's own, since the test stops its Kafka
    paths = StackPaths(find_root())
    pair = InfraPair.create(paths, paths.state / f"test-kafka-down-{random.randrange(1 << 30):x}")
    await asyncio.to_thread(pair.start)
    try:
        stack = await make_stack(["registration", "stats", "gateway"], kafka_bootstrap=pair.kafka.bootstrap,
                                 mongodb_uri=pair.store.uri, **UNLIMITED)
        gateway, registration = stack.url("gateway"), stack.url("registration")
        people = generate_attendees(1000, seed=99)[:30]
        assert await register_all(http, gateway, people[:10]) == 10
        assert await eventually(lambda: _equals(http, gateway, 10), timeout=60)

        await asyncio.to_thread(pair.kafka.stop)
        ready = await http.get(f"{registration}/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["kafka"] == "down"
        assert ready.json()["checks"]["mongo"] == "up"
        assert (await http.get(f"{registration}/healthz")).status_code == 200

        statuses = []
        for body in people[10:]:
            response = await http.post(f"{gateway}/api/registration/attendees", json=body, timeout=15)
            statuses.append(response.status_code)
            if response.status_code != 201:
                assert response.status_code == 503
                assert response.headers["content-type"].startswith("application/problem+json")
        accepted = 10 + statuses.count(201)
        assert statuses.count(201) > 0, "the outbox should accept writes while Kafka is down"

        await asyncio.to_thread(pair.kafka.start)
        assert await eventually(lambda: _equals(http, gateway, accepted), timeout=120)
        ready = await eventually(lambda: _ready(http, registration), timeout=60)
        assert ready
    finally:
        await asyncio.to_thread(pair.stop)
        pair.remove()  # its folders, PostgreSQL's cluster outside the checkout included


async def _ready(http: httpx.AsyncClient, url: str) -> bool:
    return (await http.get(f"{url}/readyz")).status_code == 200
