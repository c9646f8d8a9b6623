"""Run Plenary's services as real processes (uvicorn) on free ports, for e2e tests and benchmarks.

Every stack gets its own topic prefix and its own databases, so several can share one Kafka and document store.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path

from plenary_kit.auth import generate_keypair
from plenary_kit.stack.processes import (
    HOST,
    SERVICES,
    ServiceProcess,
    StackPaths,
    find_root,
    free_ports,
    service_available,
    service_environment,
    stop_all,
)


class ServiceStack:
    def __init__(
        self,
        *,
        kafka_bootstrap: str,
        mongodb_uri: str,
        names: Iterable[str],
        prefix: str | None = None,
        extra_env: dict[str, str] | None = None,
        base_dir: Path | None = None,
    ) -> None:
        self.prefix = prefix or f"s{uuid.uuid4().hex[:8]}."
        self.kafka_bootstrap = kafka_bootstrap
        self.mongodb_uri = mongodb_uri
        self.names = [n for n in names if service_available(n)]
        self.keys = generate_keypair()
        paths = StackPaths(find_root())
        self.base_dir = base_dir or paths.state / f"stack-{self.prefix.rstrip('.')}"
        ports = dict(zip(self.names, free_ports(len(self.names)), strict=True))
        self.ports = ports
        self.processes: dict[str, ServiceProcess] = {}
        for name in self.names:
            env = service_environment(name, kafka_bootstrap=kafka_bootstrap, mongodb_uri=mongodb_uri,
                                      keys=self.keys)
            env.update(PLENARY_TOPIC_PREFIX=self.prefix,
                       MONGODB_DATABASE=f"{self.prefix.replace('.', '_')}{name}",
                       LOG_LEVEL=os.environ.get("PLENARY_TEST_LOG_LEVEL", "WARNING"))
            for other in SERVICES:
                if other in ports:
                    env[f"SERVICE_URL_{other.upper()}"] = f"http://{HOST}:{ports[other]}"
            env.update(extra_env or {})
            self.processes[name] = ServiceProcess(name, env=env, run_dir=self.base_dir / "run",
                                                  log_dir=self.base_dir / "logs", cwd=paths.root,
                                                  port=ports[name])

    def url(self, name: str) -> str:
        return f"http://{HOST}:{self.ports[name]}"

    async def ensure_topics(self) -> None:
        from plenary_events.topics import ensure_topics

        await ensure_topics(self.kafka_bootstrap, self.prefix)

    def start(self, names: Iterable[str] | None = None, timeout: float = 90.0) -> None:
        """Start the services (all at once), then wait until each answers /readyz with 200."""
        wanted = [self.processes[n] for n in (names or self.names)]
        pids = {p.name: p.pid() or p.spawn() for p in wanted}
        try:
            for p in wanted:
                p.wait_ready(pids[p.name], timeout)
        except BaseException:
            stop_all(wanted)
            raise

    def spawn(self, name: str) -> int:
        """Start one service without waiting for it to be ready."""
        return self.processes[name].spawn()

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send a signal to a service (SIGKILL by default: no shutdown hooks run)."""
        pid = self.processes[name].pid()
        if pid is None:
            raise RuntimeError(f"{name} is not running")
        os.killpg(pid, sig)

    def stop(self) -> None:
        stop_all(list(self.processes.values()))

    def log(self, name: str) -> str:
        try:
            return self.processes[name].log_file.read_text()[-5000:]
        except OSError:
            return ""

    async def astart(self, names: Iterable[str] | None = None, timeout: float = 90.0) -> None:
        await asyncio.to_thread(self.start, names, timeout)

    async def organiser_token(self, email: str = "organiser@example.org", ttl_seconds: int = 14400) -> str:
        """An organiser's access token, made as an operator makes one: the registration service's
        `bootstrap-organiser` command, run with this stack's registration environment (database, keys)."""
        command = [sys.executable, "-m", "registration.cli", "bootstrap-organiser", "--email", email,
                   "--access-ttl", str(ttl_seconds), "--output", "token"]
        done = await asyncio.to_thread(subprocess.run, command, env=dict(self.processes["registration"].environment()),
                                       cwd=find_root(), capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"bootstrap-organiser failed: {done.stderr.strip()[-500:]}")
        return done.stdout.strip()
