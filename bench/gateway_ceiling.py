"""The ceiling: requests per second of a trivial gateway route (GET /healthz), one gateway process."""

from __future__ import annotations

from bench.common import figure, header, summary_ms
from bench.http_load import LoadResult, run_load


async def measure(gateway_url: str, seconds: float = 10.0, concurrency: int = 32) -> LoadResult:
    await run_load(f"{gateway_url}/healthz", seconds=1.0, concurrency=concurrency)  # warm-up
    return await run_load(f"{gateway_url}/healthz", seconds=seconds, concurrency=concurrency)


def report(result: LoadResult, concurrency: int = 32) -> None:
    header(f"Gateway ceiling: GET /healthz, one uvicorn process, {concurrency} connections")
    figure("requests per second", f"{result.rate:,.0f}", "req/s")
    figure("latency", summary_ms(result.latencies))
    figure("non-2xx / errors", f"{sum(n for s, n in result.statuses.items() if s >= 300)} / {result.errors}")
