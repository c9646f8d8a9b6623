"""ServiceStack's replicas, as laid out before anything starts (no processes, no Kafka): the same environment,
a port, a pid file and a log file each; replica 0 is what `processes` and `url` mean."""

from __future__ import annotations

from pathlib import Path

import pytest
from plenary_kit.testing.services import ServiceStack


def test_replicas_share_the_environment_and_nothing_else(tmp_path: Path) -> None:
    stack = ServiceStack(kafka_bootstrap="127.0.0.1:1", mongodb_uri="mongodb://127.0.0.1:1/",
                         names=["sessions", "networking"], replicas={"sessions": 2}, base_dir=tmp_path)
    first, second = stack.replicas["sessions"]
    assert [len(stack.replicas[n]) for n in stack.names] == [2, 1]
    assert stack.processes["sessions"] is first and stack.url("sessions") == first.url
    assert stack.urls("sessions") == [first.url, second.url]
    ports = [p.port for n in stack.names for p in stack.replicas[n]]
    assert len(set(ports)) == 3
    assert first.environment() == second.environment()  # one database, one topic prefix, one consumer group
    assert first.environment()["MONGODB_DATABASE"] == f"{stack.prefix.replace('.', '_')}sessions"
    assert first.pid_file != second.pid_file and first.log_file != second.log_file
    assert first.pid_file == tmp_path / "run" / "sessions.pid"  # where a one-replica stack keeps it
    # the other services are pointed at replica 0
    assert stack.processes["networking"].environment()["SERVICE_URL_SESSIONS"] == first.url


def test_a_service_needs_at_least_one_replica() -> None:
    with pytest.raises(ValueError):
        ServiceStack(kafka_bootstrap="127.0.0.1:1", mongodb_uri="mongodb://127.0.0.1:1/", names=["sessions"],
                     replicas={"sessions": 0})
