"""The kit's background-loop helpers: a stoppable sleep and a polite stop."""

from __future__ import annotations

import asyncio

from plenary_kit.tasks import stop_task, wait_event


async def test_wait_event_returns_early_when_set_and_false_on_timeout() -> None:
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_later(0.01, event.set)
    started = loop.time()
    assert await wait_event(event, 30) is True
    assert loop.time() - started < 5
    assert await wait_event(asyncio.Event(), 0.01) is False


async def test_stop_task_lets_a_loop_finish_its_pass() -> None:
    stopping = asyncio.Event()
    passes: list[str] = []

    async def loop() -> None:
        while not stopping.is_set():
            await wait_event(stopping, 30)
        await asyncio.sleep(0.01)  # the last pass still runs to its end
        passes.append("finished")

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    stopping.set()
    await stop_task(task, 5)
    assert task.done() and not task.cancelled()
    assert passes == ["finished"]


async def test_stop_task_cancels_a_task_that_does_not_stop_in_time() -> None:
    cleaned: list[str] = []

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cleaned.append("cleanup ran")

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await stop_task(task, 0.01)
    assert task.cancelled()
    assert cleaned == ["cleanup ran"]


async def test_stop_task_does_not_raise_what_the_task_raised_and_accepts_none() -> None:
    async def broken() -> None:
        raise RuntimeError("lost the database")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    await stop_task(task, 1)  # logged, not raised: shutting down must go on
    assert isinstance(task.exception(), RuntimeError)
    await stop_task(None, 1)


async def test_stop_task_leaves_the_callers_own_cancellation_alone() -> None:
    async def stubborn() -> None:
        await asyncio.sleep(3600)

    inner = asyncio.create_task(stubborn())

    async def stopper() -> None:
        await stop_task(inner, 3600)

    outer = asyncio.create_task(stopper())
    await asyncio.sleep(0.01)
    outer.cancel()
    await asyncio.wait({outer})
    assert outer.cancelled()
    inner.cancel()
    await asyncio.wait({inner})
