"""The two moves every background loop here makes: sleep until told to stop (or woken), and stop a task politely.

A loop (the outbox relay, a Kafka consumer, a scheduler) runs as one task that sleeps on an event between passes;
`stop` sets that event and gives the task a moment to finish its pass before cancelling it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from plenary_kit.logging import get_logger

log = get_logger("plenary.tasks")


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` have passed; True when it was set."""
    try:
        await asyncio.wait_for(event.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


async def stop_task(task: asyncio.Task[Any] | None, timeout: float) -> None:
    """Let `task` finish (its loop has been told to stop) for up to `timeout` seconds, then cancel it and wait for
    the cancellation. A task that ended with an error has it logged, not raised: stopping must not fail."""
    if task is None:
        return
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        log.warning("task_stop_timeout", task=task.get_name(), seconds=timeout)
        task.cancel()
        await asyncio.wait({task})  # not `await task`: that would swallow a cancellation of the caller too
        return
    if not task.cancelled() and task.exception() is not None:
        log.warning("task_ended_with_error", task=task.get_name(), error=repr(task.exception()))
