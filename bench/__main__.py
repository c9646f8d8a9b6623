"""`python -m bench [name ...]`: run benchmarks against a throwaway real stack and print their figures.

Every module in this folder that defines `NAME` (a short name) and `async def run(infra)` is a benchmark;
without names, all of them run, in the order of their `ORDER` (default 100) and then name.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import sys
from types import ModuleType

import bench
from bench.common import real_infra


def discover() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(bench.__path__):
        if info.name.startswith("_") or info.name == "common":
            continue
        module = importlib.import_module(f"bench.{info.name}")
        name = getattr(module, "NAME", None)
        if isinstance(name, str) and callable(getattr(module, "run", None)):
            found[name] = module
    return dict(sorted(found.items(), key=lambda kv: (getattr(kv[1], "ORDER", 100), kv[0])))


def main(argv: list[str]) -> int:
    benches = discover()
    unknown = [name for name in argv if name not in benches]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; choose from: {', '.join(benches)}", file=sys.stderr)
        return 2
    wanted = argv or list(benches)
    with real_infra() as infra:
        for name in wanted:
            asyncio.run(benches[name].run(infra))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
