"""Local infrastructure: genuine Apache Kafka (KRaft, single node) and the document store (engine.py: FerretDB 2.7
on DocumentDB on PostgreSQL 15).

Install (idempotent; a marker records what was installed, so a version bump installs again):
- Kafka's jars: `mvn dependency:copy-dependencies` on deploy/local/pom.xml into .plenary/cache/kafka/libs.
- The document store: Debian packages, the DocumentDB extension built into the system PostgreSQL, FerretDB with
  `go install` (engine.py says how).
Start on given ports with given data and log folders, wait until each answers, stop by pid.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from plenary_kit.stack import engine
from plenary_kit.stack.engine import FERRETDB_PORT, FerretDBServer, PostgresServer
from plenary_kit.stack.processes import (
    HOST,
    Daemon,
    StackError,
    StackPaths,
    accepts_connections,
    start_together,
    stop_all,
)

T = TypeVar("T")

MIN_GO = (1, 21)  # older Go cannot fetch the newer toolchain a module's go.mod asks for (GOTOOLCHAIN=auto)

KAFKA_PORT, KAFKA_CONTROLLER_PORT = 9092, 9093

DEBIAN_PACKAGES = {"java": "default-jre-headless", "mvn": "maven", "go": "golang"}
_EXTRA_TOOL_DIRS = {"go": ("/usr/local/go/bin", "/usr/lib/go/bin")}

Echo = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------------- tools

_apt_lock = threading.Lock()
_apt_updated = False


def missing_tool_message(tool: str) -> str:
    package = DEBIAN_PACKAGES[tool]
    return (f"`{tool}` is not installed: install the Debian package {package} (`sudo apt-get install -y "
            f"{package}`); `make up` installs it by itself when run as root.")


def _which(tool: str) -> str | None:
    found = shutil.which(tool)
    if found:
        return found
    for folder in _EXTRA_TOOL_DIRS.get(tool, ()):
        candidate = Path(folder) / tool
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def can_apt_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def require_tool(tool: str, *, auto_install: bool = True, echo: Echo = _stderr) -> str:
    """The path of `tool`; when missing and we are root with apt-get, install its Debian package first."""
    found = _which(tool)
    if found:
        return found
    if auto_install and can_apt_install():
        _apt_install(DEBIAN_PACKAGES[tool], echo)
        found = _which(tool)
        if found:
            return found
    raise StackError(missing_tool_message(tool))


def _apt_install(package: str, echo: Echo) -> None:
    global _apt_updated
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with _apt_lock:
        echo(f"Installing the Debian package {package} with apt-get ...")
        steps = [] if _apt_updated else [["apt-get", "update"]]
        steps.append(["apt-get", "install", "-y", "--no-install-recommends", package])
        for step in steps:
            done = subprocess.run(step, env=env, stdout=sys.stderr, stderr=subprocess.STDOUT, check=False)
            if done.returncode != 0:
                raise StackError(f"`{' '.join(step)}` failed (output above); install {package} by hand and "
                                 "run the command again.")
        _apt_updated = True


@contextlib.contextmanager
def _install_lock(paths: StackPaths, what: str) -> Iterator[None]:
    """One installer per component at a time, across processes (a CLI and a test session, say)."""
    paths.cache.mkdir(parents=True, exist_ok=True)
    with (paths.cache / f".{what}.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _run_logged(cmd: Sequence[str], log: Path, *, cwd: Path | None = None,
                env: dict[str, str] | None = None) -> int:
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        return subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT, check=False).returncode


# ------------------------------------------------------------------------------------------------------ install


def kafka_libs(paths: StackPaths) -> Path:
    return paths.cache / "kafka" / "libs"


def kafka_version(paths: StackPaths) -> str:
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", (paths.deploy / "pom.xml").read_text())
    return match.group(1).strip() if match else "unknown"


def _kafka_fingerprint(paths: StackPaths) -> str:
    digest = hashlib.sha256((paths.deploy / "pom.xml").read_bytes()).hexdigest()[:16]
    return f"kafka {kafka_version(paths)} pom {digest}\n"


def kafka_installed(paths: StackPaths) -> bool:
    marker = kafka_libs(paths).parent / "installed.txt"
    return (marker.is_file() and marker.read_text() == _kafka_fingerprint(paths)
            and any(kafka_libs(paths).glob("kafka_2.13-*.jar")))


def install_kafka(paths: StackPaths, *, auto_install: bool = True, echo: Echo = _stderr) -> Path:
    """Fetch the Kafka jars with Maven unless the installed set matches deploy/local/pom.xml."""
    require_tool("java", auto_install=auto_install, echo=echo)
    with _install_lock(paths, "kafka"):
        libs = kafka_libs(paths)
        if kafka_installed(paths):
            return libs
        mvn = require_tool("mvn", auto_install=auto_install, echo=echo)
        paths.logs.mkdir(parents=True, exist_ok=True)
        log = paths.logs / "install-kafka.log"
        echo(f"Fetching Apache Kafka {kafka_version(paths)} jars with Maven (log: {log}) ...")
        staging = libs.with_name("libs.new")
        shutil.rmtree(staging, ignore_errors=True)
        code = _run_logged([mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(paths.deploy / "pom.xml"),
                            "dependency:copy-dependencies", "-DincludeScope=runtime",
                            f"-DoutputDirectory={staging}"], log)
        if code != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            raise StackError(f"Maven could not fetch the Kafka jars (see {log}); check that Maven Central is "
                             "reachable and run `plenary stack install` again.")
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        (libs.parent / "installed.txt").write_text(_kafka_fingerprint(paths))
        return libs


def _go_version(go: str) -> tuple[int, int]:
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"go(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def install_store(paths: StackPaths, *, auto_install: bool = True, echo: Echo = _stderr) -> None:
    """The document store: PostgreSQL and the DocumentDB extension, then FerretDB (engine.py)."""
    with _install_lock(paths, "engine"):
        paths.logs.mkdir(parents=True, exist_ok=True)
        calls: list[Callable[[], object]] = [lambda: engine.install_extensions(
            paths, paths.logs / "install-store.log", auto_install=auto_install, echo=echo)]
        if not engine.ferretdb_installed(paths):
            go = require_tool("go", auto_install=auto_install, echo=echo)
            if _go_version(go) < MIN_GO:
                raise StackError("Go is too old to build FerretDB (it needs Go 1.21 or newer, which fetches the "
                                 "toolchain FerretDB asks for): install a newer Go and run `plenary stack install` "
                                 "again.")
            calls.append(lambda: engine.install_ferretdb(paths, paths.logs / "install-ferretdb.log", go=go,
                                                         echo=echo))
        run_concurrently(calls)  # Go's build and the C builds overlap


def store_installed(paths: StackPaths) -> bool:
    return engine.ferretdb_installed(paths) and engine.extensions_installed()


def install(paths: StackPaths, *, auto_install: bool = True, echo: Echo = _stderr) -> None:
    """Install Kafka and the document store (both at once; the missing tools first, one apt-get at a time)."""
    for tool, needed in (("java", True), ("mvn", not kafka_installed(paths)),
                         ("go", not engine.ferretdb_installed(paths))):
        if needed:
            require_tool(tool, auto_install=auto_install, echo=echo)
    run_concurrently([lambda: install_kafka(paths, auto_install=auto_install, echo=echo),
                      lambda: install_store(paths, auto_install=auto_install, echo=echo)])


def run_concurrently(calls: Sequence[Callable[[], object]]) -> None:
    """Run calls in threads; raise the first failure after all have finished."""
    with ThreadPoolExecutor(max_workers=max(1, len(calls))) as pool:
        futures = [pool.submit(call) for call in calls]
    for future in futures:
        future.result()


def run_coroutine(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion in a fresh thread, whatever event loop the caller's thread has."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


# ------------------------------------------------------------------------------------------------------- kafka


def kafka_cluster_id() -> str:
    """A random Kafka cluster id, as `kafka-storage random-uuid` makes it (URL-safe base64 of 16 bytes)."""
    while True:
        text = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not text.startswith("-"):
            return text


class KafkaServer(Daemon):
    """A single-node KRaft Kafka (broker and controller in one JVM) on loopback."""

    title = "Kafka"
    marker = "kafka.Kafka"
    stop_timeout = 30.0

    def __init__(self, paths: StackPaths, *, data_dir: Path, log_dir: Path, run_dir: Path,
                 port: int = KAFKA_PORT, controller_port: int = KAFKA_CONTROLLER_PORT, heap: str = "512m",
                 name: str = "kafka"):
        super().__init__(name, port=port, run_dir=run_dir, log_dir=log_dir, extra_ports=(controller_port,))
        self.paths = paths
        self.data_dir = data_dir
        self.controller_port = controller_port
        self.heap = heap

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.run_dir / f"{self.name}.properties"

    @property
    def output_file(self) -> Path:
        return self.log_dir / f"{self.name}.out"

    def server_properties(self) -> dict[str, str]:
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{HOST}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "10",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "log.segment.bytes": str(16 * 1024 * 1024),
            "log.retention.hours": "72",
            "log.retention.bytes": str(256 * 1024 * 1024),
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        }

    def _java(self, main: str, *args: str, heap: str) -> list[str]:
        libs = kafka_libs(self.paths)
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise StackError(f"Kafka is not installed in {libs}: run `plenary stack install` first.")
        return [require_tool("java", auto_install=False), f"-Xmx{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.paths.deploy / 'log4j2.properties'}",
                f"-Dplenary.log.file={self.log_file}", "-cp", f"{libs}/*", main, *args]

    def command(self) -> list[str]:
        return self._java("kafka.Kafka", str(self.config_file), heap=self.heap)

    def prepare(self) -> None:
        """Write server.properties; format the storage the first time."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text("".join(f"{k}={v}\n" for k, v in self.server_properties().items()))
        if (self.data_dir / "meta.properties").is_file():
            return
        cmd = self._java("kafka.tools.StorageTool", "format", "--ignore-formatted", "-t", kafka_cluster_id(),
                         "-c", str(self.config_file), heap="256m")
        if _run_logged(cmd, self.output_file) != 0:
            raise StackError(f"Formatting Kafka's storage in {self.data_dir} failed (see {self.output_file} and "
                             f"{self.log_file}); remove that folder if an older Kafka made it, and try again.")

    def probe(self, timeout: float) -> bool:
        """Connectable, and answers a metadata request."""
        return accepts_connections(self.port, timeout=timeout) and run_coroutine(
            lambda: kafka_answers(self.bootstrap, timeout))


async def kafka_answers(bootstrap: str, timeout: float = 5.0) -> bool:
    """True when the broker at `bootstrap` answers a metadata request (lists its topics)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="plenary-stack",
                                request_timeout_ms=max(1000, int(timeout * 1000)))
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


def mongo_answers(uri: str, timeout: float = 5.0) -> bool:
    """True when the server at `uri` answers the `ping` command."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    ms = max(500, int(timeout * 1000))
    client: MongoClient[dict[str, Any]] = MongoClient(uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms,
                                                      directConnection=True)
    try:
        return bool(client.admin.command("ping").get("ok"))
    except PyMongoError:
        return False
    finally:
        client.close()


# ------------------------------------------------------------------------------------------------ local stack


class DocumentStore:
    """PostgreSQL with DocumentDB and FerretDB in front of it: the local Mongo-wire server, started and stopped as
    one component (PostgreSQL first, FerretDB after it answers; FerretDB first on the way down)."""

    def __init__(self, paths: StackPaths, *, cluster_dir: Path, state_dir: Path, log_dir: Path, run_dir: Path,
                 port: int = FERRETDB_PORT, postgres_port: int = engine.POSTGRES_PORT) -> None:
        self.cluster_dir = cluster_dir
        self.postgres = PostgresServer(data_dir=cluster_dir / "pgdata", log_dir=log_dir, run_dir=run_dir,
                                       port=postgres_port)
        self.ferretdb = FerretDBServer(paths, postgres=self.postgres, state_dir=state_dir, log_dir=log_dir,
                                       run_dir=run_dir, port=port)

    @property
    def uri(self) -> str:
        return self.ferretdb.uri

    @property
    def daemons(self) -> list[Daemon]:
        return [self.postgres, self.ferretdb]

    def stop(self) -> None:
        self.ferretdb.stop()
        self.postgres.stop()

    def remove(self) -> None:
        engine.remove_cluster(self.cluster_dir)


def local_infra(paths: StackPaths) -> tuple[KafkaServer, DocumentStore]:
    """Kafka and the document store of the developer's local stack, at the fixed ports, state under .plenary/
    (PostgreSQL's cluster under engine.cluster_base)."""
    kafka = KafkaServer(paths, data_dir=paths.data / "kafka", log_dir=paths.logs, run_dir=paths.run)
    store = DocumentStore(paths, cluster_dir=engine.cluster_base(paths) / "local", state_dir=paths.data / "ferretdb",
                          log_dir=paths.logs, run_dir=paths.run)
    return kafka, store


def start_infra(kafka: KafkaServer, store: DocumentStore, timeout: float = 120.0) -> None:
    """Start all three unless running: PostgreSQL and Kafka's JVM together, FerretDB once PostgreSQL answers;
    then wait until Kafka answers. On failure nothing this call started is left running."""
    running = {d for d in (store.postgres, store.ferretdb, kafka) if d.pid() is not None}
    try:
        start_together([store.postgres], timeout, also_spawn=[kafka])
        start_together([store.ferretdb, kafka], timeout)
    except BaseException:
        stop_all([d for d in (store.ferretdb, kafka, store.postgres) if d not in running])
        raise
