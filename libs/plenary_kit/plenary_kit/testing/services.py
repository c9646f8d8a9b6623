"""Run Plenary's services as real processes (uvicorn) on free ports, for e2e tests and benchmarks.

Every stack gets its own topic prefix and its own databases, so several can share one Kafka and document store.
A service can run as several replicas (`replicas={"sessions": 2}`): processes with the same environment (database,
topics, consumer groups, keys), each on a port of its own, as a deployment with two pods runs them. Replica 0 is
the one other services are pointed at (`SERVICE_URL_*`) and the one `processes`, `url`, `kill` and `log` mean
unless told otherwise; its pid and log files stay where they were (`run/<name>.pid`, `logs/<name>.log`), the
others' are under `replica-<n>/`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterable, Mapping
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
        replicas: Mapping[str, int] | None = None,
    ) -> None:
        self.prefix = prefix or f"s{uuid.uuid4().hex[:8]}."
        self.kafka_bootstrap = kafka_bootstrap
        self.mongodb_uri = mongodb_uri
        self.names = [n for n in names if service_available(n)]
        counts = {name: (replicas or {}).get(name, 1) for name in self.names}
        if any(count < 1 for count in counts.values()):
            raise ValueError(f"every service needs at least one replica: {dict(replicas or {})}")
        self.keys = generate_keypair()
        paths = StackPaths(find_root())
        self.base_dir = base_dir or paths.state / f"stack-{self.prefix.rstrip('.')}"
        free = iter(free_ports(sum(counts.values())))
        # name -> the port of each replica (replica 0 first)
        self.replica_ports: dict[str, list[int]] = {name: [next(free) for _ in range(counts[name])]
                                                    for name in self.names}
        self.ports = {name: ports[0] for name, ports in self.replica_ports.items()}
        self.replicas: dict[str, list[ServiceProcess]] = {}
        for name in self.names:
            env = service_environment(name, kafka_bootstrap=kafka_bootstrap, mongodb_uri=mongodb_uri,
                                      keys=self.keys)
            env.update(PLENARY_TOPIC_PREFIX=self.prefix,
                       MONGODB_DATABASE=f"{self.prefix.replace('.', '_')}{name}",
                       LOG_LEVEL=os.environ.get("PLENARY_TEST_LOG_LEVEL", "WARNING"))
            for other in SERVICES:
                if other in self.ports:
                    env[f"SERVICE_URL_{other.upper()}"] = f"http://{HOST}:{self.ports[other]}"
            env.update(extra_env or {})
            self.replicas[name] = []
            for n, port in enumerate(self.replica_ports[name]):
                home = self.base_dir if n == 0 else self.base_dir / f"replica-{n}"
                self.replicas[name].append(ServiceProcess(name, env=env, run_dir=home / "run", log_dir=home / "logs",
                                                          cwd=paths.root, port=port))
        # replica 0 of each service
        self.processes: dict[str, ServiceProcess] = {name: procs[0] for name, procs in self.replicas.items()}

    def url(self, name: str, replica: int = 0) -> str:
        return f"http://{HOST}:{self.replica_ports[name][replica]}"

    def urls(self, name: str) -> list[str]:
        """The base URL of every replica of `name` (replica 0 first)."""
        return [f"http://{HOST}:{port}" for port in self.replica_ports[name]]

    def _all(self, names: Iterable[str] | None = None) -> list[ServiceProcess]:
        return [p for n in (self.names if names is None else names) for p in self.replicas[n]]

    async def ensure_topics(self) -> None:
        from plenary_events.topics import ensure_topics

        await ensure_topics(self.kafka_bootstrap, self.prefix)

    def start(self, names: Iterable[str] | None = None, timeout: float = 90.0) -> None:
        """Start the services, every replica (all at once), then wait until each answers /readyz with 200."""
        wanted = self._all(names)
        pids = [p.pid() or p.spawn() for p in wanted]
        try:
            for p, pid in zip(wanted, pids, strict=True):
                p.wait_ready(pid, timeout)
        except BaseException:
            stop_all(wanted)
            raise

    def spawn(self, name: str, replica: int = 0) -> int:
        """Start one replica of a service without waiting for it to be ready."""
        return self.replicas[name][replica].spawn()

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL, replica: int = 0) -> None:
        """Send a signal to a replica of a service (SIGKILL by default: no shutdown hooks run)."""
        pid = self.replicas[name][replica].pid()
        if pid is None:
            raise RuntimeError(f"{name} (replica {replica}) is not running")
        os.killpg(pid, sig)

    def stop(self, names: Iterable[str] | None = None) -> None:
        """Stop every replica of the services (default: all), SIGTERM first: their shutdown hooks run."""
        stop_all(self._all(names))

    def log(self, name: str, replica: int = 0) -> str:
        try:
            return self.replicas[name][replica].log_file.read_text()[-5000:]
        except OSError:
            return ""

    async def astart(self, names: Iterable[str] | None = None, timeout: float = 90.0) -> None:
        await asyncio.to_thread(self.start, names, timeout)

    async def astop(self, names: Iterable[str] | None = None) -> None:
        await asyncio.to_thread(self.stop, names)

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
