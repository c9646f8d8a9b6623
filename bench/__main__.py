"""`python -m bench [name ...]`: run benchmarks against a throwaway real stack and print their figures.

Names: kafka, registration (includes the gateway ceiling). Without names, all run.
"""

from __future__ import annotations

import asyncio
import sys

from bench.common import real_infra


async def _services_bench(infra: object, concurrency: int = 32) -> None:
    from plenary_kit.testing.services import ServiceStack

    from bench import gateway_ceiling, registration_burst

    stack = ServiceStack(kafka_bootstrap=infra.kafka_bootstrap, mongodb_uri=infra.mongodb_uri,  # type: ignore[attr-defined]
                         names=["registration", "stats", "gateway"],
                         # the load comes from one address: the per-client registration limit is not measured here
                         extra_env={"LOG_LEVEL": "WARNING", "REGISTER_RATE_PER_CLIENT": "0"})
    await stack.ensure_topics()
    await stack.astart()
    try:
        gateway = stack.url("gateway")
        ceiling = await gateway_ceiling.measure(gateway, concurrency=concurrency)
        gateway_ceiling.report(ceiling, concurrency)
        out = await registration_burst.burst(gateway, n=10_000, concurrency=concurrency)
        registration_burst.report(out, ceiling.rate, stack.processes["gateway"].pid(), concurrency)
    finally:
        stack.stop()


def main(argv: list[str]) -> int:
    from bench import kafka_throughput

    wanted = set(argv) or {"kafka", "registration"}
    with real_infra() as infra:
        if "kafka" in wanted:
            asyncio.run(kafka_throughput.run(infra.kafka_bootstrap))
        if "registration" in wanted:
            asyncio.run(_services_bench(infra))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
