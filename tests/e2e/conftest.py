"""e2e fixtures: the services as real processes (uvicorn) against the session's real Kafka and document store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from plenary_kit.testing.services import ServiceStack


@pytest.fixture
def make_stack(infra) -> Iterator[Any]:
    """A factory: make_stack(names, **extra_env) -> a started ServiceStack; all are stopped afterwards."""
    stacks: list[ServiceStack] = []

    async def make(names: list[str], *, kafka_bootstrap: str | None = None, mongodb_uri: str | None = None,
                   **extra_env: str) -> ServiceStack:
        stack = ServiceStack(kafka_bootstrap=kafka_bootstrap or infra.kafka_bootstrap,
                             mongodb_uri=mongodb_uri or infra.mongodb_uri, names=names, extra_env=extra_env)
        stacks.append(stack)
        await stack.ensure_topics()
        await stack.astart()
        return stack

    yield make
    for stack in stacks:
        stack.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        yield client
