"""Pytest fixtures for tests that need the real Kafka and the real document store.

`infra` (session) starts a genuine Kafka and the document store (PostgreSQL with DocumentDB, FerretDB 2 in front)
on free loopback ports, with data and logs in .plenary/test-<id>/ (PostgreSQL's cluster under
engine.cluster_base), and stops them (and removes the folders) at the end of the session. With
PLENARY_USE_RUNNING_STACK=1 it uses the running local stack (`plenary stack up`) instead and starts nothing.
`topic_prefix` and `mongo_db_name` give each test its own topics and database.

Load with `pytest_plugins = ["plenary_kit.testing.stack_fixtures"]` (or `-p plenary_kit.testing.stack_fixtures`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from plenary_kit.stack import engine
from plenary_kit.stack.engine import FERRETDB_PORT, POSTGRES_PORT
from plenary_kit.stack.infra import (
    KAFKA_CONTROLLER_PORT,
    KAFKA_PORT,
    DocumentStore,
    KafkaServer,
    install,
    start_infra,
)
from plenary_kit.stack.processes import HOST, StackError, StackPaths, find_root, free_ports, stop_all

USE_RUNNING_STACK = "PLENARY_USE_RUNNING_STACK"
KEEP_TEST_DATA = "PLENARY_KEEP_TEST_DATA"
_failed: list[InfraPair] = []


@dataclass(frozen=True)
class InfraEndpoints:
    """Where the tests' Kafka and Mongo-wire server answer (and, when the fixture started them, their logs)."""

    kafka_bootstrap: str
    mongodb_uri: str
    kafka_log: Path | None = None
    store_log: Path | None = None
    base_dir: Path | None = None
    cluster_dir: Path | None = None  # PostgreSQL's cluster behind the store


class InfraPair:
    """A Kafka and a document store with all their state in one folder (and PostgreSQL's cluster in a folder of
    the same name under engine.cluster_base), which a lock marks as in use."""

    def __init__(self, paths: StackPaths, base_dir: Path, ports: tuple[int, int, int, int] | None = None):
        kafka_port, controller_port, mongo_port, postgres_port = ports or (
            KAFKA_PORT, KAFKA_CONTROLLER_PORT, FERRETDB_PORT, POSTGRES_PORT)
        run, logs, data = base_dir / "run", base_dir / "logs", base_dir / "data"
        self.base_dir = base_dir
        self.kafka = KafkaServer(paths, data_dir=data / "kafka", log_dir=logs, run_dir=run, port=kafka_port,
                                 controller_port=controller_port)
        self.store = DocumentStore(paths, cluster_dir=engine.cluster_base(paths) / base_dir.name,
                                   state_dir=data / "ferretdb", log_dir=logs, run_dir=run, port=mongo_port,
                                   postgres_port=postgres_port)
        self._lock: IO[str] | None = None

    @classmethod
    def create(cls, paths: StackPaths, base_dir: Path | None = None) -> InfraPair:
        """A pair on free ports in a new folder (default .plenary/test-<id>/), locked by this process. The
        folder is made and locked under another name first, so no stale-folder sweep sees it unlocked."""
        base_dir = base_dir or paths.state / f"test-{uuid.uuid4().hex[:12]}"
        staging = base_dir.with_name(f".new-{base_dir.name}")
        staging.mkdir(parents=True)
        lock = (staging / ".lock").open("a")
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            staging.rename(base_dir)
        except OSError:
            lock.close()
            shutil.rmtree(staging, ignore_errors=True)
            raise StackError(f"{base_dir} already exists; pick another folder for the test servers.") from None
        kafka_port, controller_port, mongo_port, postgres_port = free_ports(4)
        pair = cls(paths, base_dir, (kafka_port, controller_port, mongo_port, postgres_port))
        pair._lock = lock
        return pair

    def try_lock(self) -> bool:
        """Hold the folder's lock while this process lives; False when another live process holds it."""
        handle = (self.base_dir / ".lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._lock = handle
        return True

    def start(self, timeout: float = 120.0) -> None:
        start_infra(self.kafka, self.store, timeout)

    def stop(self) -> None:
        stop_all([self.store.ferretdb, self.kafka])
        self.store.postgres.stop()

    def remove(self) -> None:
        self.store.remove()
        shutil.rmtree(self.base_dir, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    @property
    def endpoints(self) -> InfraEndpoints:
        return InfraEndpoints(self.kafka.bootstrap, self.store.uri, self.kafka.log_file,
                              self.store.ferretdb.log_file, self.base_dir, self.store.cluster_dir)


def remove_stale_test_dirs(paths: StackPaths) -> None:
    """Stop the processes of, and delete, .plenary/test-* folders whose test session is gone (killed, say)."""
    abandoned = [folder for folder in paths.state.glob(".new-test-*")  # a process died while making it
                 if time.time() - folder.stat().st_mtime > 600]
    for folder in [*paths.state.glob("test-*"), *abandoned]:
        pair = InfraPair(paths, folder)
        if folder.is_dir() and pair.try_lock():
            pair.stop()
            pair.remove()
    for cluster in engine.cluster_base(paths).glob("test-*"):  # its test folder is gone: stop it by its own pid
        if not (paths.state / cluster.name).exists():
            engine.stop_orphan_cluster(cluster / "pgdata")
            engine.remove_cluster(cluster)


@contextlib.contextmanager
def started_infra(paths: StackPaths | None = None) -> Iterator[InfraEndpoints]:
    """Install if needed, start a fresh Kafka and document store, yield their endpoints, stop and clean up."""
    paths = paths or StackPaths(find_root())
    install(paths)
    remove_stale_test_dirs(paths)
    pair = InfraPair.create(paths)
    try:
        pair.start()
    except BaseException:
        _failed.append(pair)  # keep its folder (and the logs the error names) locked while this process lives
        raise
    try:
        yield pair.endpoints
    finally:
        pair.stop()
        if os.environ.get(KEEP_TEST_DATA) != "1":
            pair.remove()


@pytest.fixture(scope="session")
def infra() -> Iterator[InfraEndpoints]:
    """A real Kafka and document store for this test session (or the running local stack, see the module doc)."""
    if os.environ.get(USE_RUNNING_STACK) == "1":
        yield InfraEndpoints(f"{HOST}:{KAFKA_PORT}", f"mongodb://{HOST}:{FERRETDB_PORT}/")
        return
    try:
        with started_infra() as endpoints:
            yield endpoints
    except StackError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def topic_prefix() -> str:
    """A prefix (`t<8 hex>.`) that makes this test's topic names its own."""
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture
def mongo_db_name(infra: InfraEndpoints) -> Iterator[str]:
    """A database name of this test's own; the database is dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    client: MongoClient[dict[str, object]] = MongoClient(infra.mongodb_uri, serverSelectionTimeoutMS=2000)
    with contextlib.suppress(PyMongoError):
        client.drop_database(name)
    client.close()
