"""`python -m bench [name ...]`: run the benchmarks against a throwaway real stack and print their figures."""

from __future__ import annotations

import asyncio
import sys

from bench.common import real_infra


def main(argv: list[str]) -> int:
    from bench import kafka_throughput

    wanted = set(argv) or {"kafka"}
    with real_infra() as infra:
        if "kafka" in wanted:
            asyncio.run(kafka_throughput.run(infra.kafka_bootstrap))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
