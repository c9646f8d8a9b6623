"""The background loop the schedulers share: do what is due, and when nothing was, sleep until woken or polled."""

from __future__ import annotations

import asyncio

from plenary_kit.logging import get_logger
from plenary_kit.tasks import stop_task, wait_event

log = get_logger("notifications.polling")


class Poller:
    """Calls `run_once` (which returns how much it did) while it finds work, then waits `poll_seconds` or until
    `wake()`. A failing pass is logged and retried at the next poll; `stop()` lets a running pass finish."""

    name = "poller"

    def __init__(self, poll_seconds: float) -> None:
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        raise NotImplementedError

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        await stop_task(self._task, 10)
        self._task = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                done = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("pass_failed", loop=self.name, error=str(exc)[:300])
                done = 0
            if done:
                continue
            await wait_event(self._wake, self._poll)
