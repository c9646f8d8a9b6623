"""Waiting for an outcome in tests without fixed sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 60.0, interval: float = 0.25) -> Any:
    """Call `check` until it returns a truthy value (returned) or `timeout` passes (TimeoutError)."""
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(interval)
