"""The local stack's user-facing behaviour that needs no running server: its messages, its idempotence markers,
its configuration and the environment it gives the services."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from plenary_kit.cli import format_status
from plenary_kit.stack import engine, infra, processes
from plenary_kit.stack.engine import FerretDBServer, PostgresServer
from plenary_kit.stack.infra import KafkaServer
from plenary_kit.stack.processes import ComponentStatus, StackError, StackPaths
from plenary_kit.stack.usage import Usage, measure_usage

POM = "<project><properties><kafka.version>{}</kafka.version></properties></project>\n"


@pytest.fixture
def paths(tmp_path: Path) -> StackPaths:
    (tmp_path / "deploy" / "local").mkdir(parents=True)
    (tmp_path / "deploy" / "local" / "pom.xml").write_text(POM.format("4.1.1"))
    return StackPaths(tmp_path)


@pytest.fixture
def no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a unit test must not start processes")

    monkeypatch.setattr(processes.subprocess, "Popen", refuse)


@pytest.mark.parametrize(("tool", "package"), [("java", "default-jre-headless"), ("mvn", "maven"), ("go", "golang")])
def test_a_missing_tool_names_its_debian_package(monkeypatch: pytest.MonkeyPatch, tool: str, package: str) -> None:
    monkeypatch.setattr(infra, "_which", lambda name: None)
    monkeypatch.setattr(infra, "can_apt_install", lambda: False)
    with pytest.raises(StackError) as raised:
        infra.require_tool(tool)
    message = str(raised.value)
    assert f"`{tool}` is not installed" in message
    assert f"apt-get install -y {package}" in message
    assert "make up" in message


def test_as_root_a_missing_tool_is_installed_with_apt_get_updating_once(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: set[str] = set()
    commands: list[list[str]] = []

    def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        commands.append(cmd)
        if cmd[:2] == ["apt-get", "install"]:
            installed.add(cmd[-1])
        return subprocess.CompletedProcess(cmd, 0)

    binaries = {"default-jre-headless": "java", "maven": "mvn"}
    monkeypatch.setattr(infra, "_which", lambda name: f"/usr/bin/{name}" if name in
                        {binaries[p] for p in installed} else None)
    monkeypatch.setattr(infra, "can_apt_install", lambda: True)
    monkeypatch.setattr(infra, "_apt_updated", False)
    monkeypatch.setattr(infra.subprocess, "run", run)

    assert infra.require_tool("java", echo=lambda _: None) == "/usr/bin/java"
    assert infra.require_tool("mvn", echo=lambda _: None) == "/usr/bin/mvn"
    assert commands == [
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "default-jre-headless"],
        ["apt-get", "install", "-y", "--no-install-recommends", "maven"],
    ]


def test_a_taken_port_is_refused_with_a_sentence(monkeypatch: pytest.MonkeyPatch, paths: StackPaths,
                                                 no_processes: None) -> None:
    monkeypatch.setattr(processes, "port_in_use", lambda port, host="127.0.0.1": port == 9093)
    kafka = KafkaServer(paths, data_dir=paths.data / "kafka", log_dir=paths.logs, run_dir=paths.run)
    with pytest.raises(StackError) as raised:
        kafka.start()
    message = str(raised.value)
    assert message.startswith("Port 9093 on 127.0.0.1 is already in use, so Kafka cannot listen there")
    assert "plenary stack down" in message
    assert not kafka.pid_file.exists()


def test_a_pid_file_whose_process_is_gone_is_removed(paths: StackPaths) -> None:
    ferretdb = _ferretdb(paths)
    paths.run.mkdir(parents=True)
    ferretdb.pid_file.write_text(f"{2**22 + 4321}\n")  # above Linux's largest pid: no such process
    assert ferretdb.pid() is None
    assert not ferretdb.pid_file.exists()
    assert ferretdb.status() == ComponentStatus("ferretdb", None, 27017, "stopped")


def test_a_pid_file_naming_someone_elses_process_is_not_trusted(paths: StackPaths) -> None:
    kafka = KafkaServer(paths, data_dir=paths.data / "kafka", log_dir=paths.logs, run_dir=paths.run)
    paths.run.mkdir(parents=True)
    kafka.pid_file.write_text(f"{os.getpid()}\n")  # alive, but this is pytest, not kafka.Kafka
    assert kafka.pid() is None
    assert not kafka.pid_file.exists()


def test_kafka_install_marker_follows_the_pom(paths: StackPaths) -> None:
    libs = infra.kafka_libs(paths)
    libs.mkdir(parents=True)
    (libs / "kafka_2.13-4.1.1.jar").write_bytes(b"")
    (libs.parent / "installed.txt").write_text(infra._kafka_fingerprint(paths))
    assert infra.kafka_installed(paths)

    (paths.deploy / "pom.xml").write_text(POM.format("4.2.0"))
    assert infra.kafka_version(paths) == "4.2.0"
    assert not infra.kafka_installed(paths)


def test_ferretdb_install_marker_records_the_version(paths: StackPaths) -> None:
    binary = engine.ferretdb_binary(paths)
    binary.parent.mkdir(parents=True)
    binary.write_bytes(b"")
    marker = binary.with_name("ferretdb.version")
    marker.write_text(f"{engine.FERRETDB_VERSION}\n")
    assert engine.ferretdb_installed(paths)
    marker.write_text("v1.24.2\n")
    assert not engine.ferretdb_installed(paths)


def _ferretdb(paths: StackPaths) -> FerretDBServer:
    postgres = PostgresServer(data_dir=paths.data / "pg", log_dir=paths.logs, run_dir=paths.run)
    return FerretDBServer(paths, postgres=postgres, state_dir=paths.data / "ferretdb", log_dir=paths.logs,
                          run_dir=paths.run)


def test_a_source_archive_is_checked_by_its_content(monkeypatch: pytest.MonkeyPatch, paths: StackPaths,
                                                    tmp_path: Path) -> None:
    """A mirror's archive whose files differ from the pinned tree is refused with a sentence naming both digests;
    the same files in another archive (other timestamps, top folder, compression) are accepted."""
    import io
    import tarfile

    def archive(files: dict[str, bytes], top: str, mode: str) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode=mode) as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(f"{top}/{name}")
                info.size, info.mtime = len(data), hash(top) & 0xFFFF
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    files = {"Makefile": b"all:\n", "src/a.c": b"int a;\n"}
    with tarfile.open(fileobj=io.BytesIO(archive(files, "one", "w:gz"))) as tar:
        pinned = engine.tree_digest(tar)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.setenv("PLENARY_SOURCE_MIRROR", str(mirror))
    monkeypatch.setitem(engine.ARCHIVES, "pg_cron", engine.SourceArchive("x.tar", "https://example.invalid/x",
                                                                          pinned))
    (mirror / "x.tar").write_bytes(archive(files, "other-top", "w"))
    tree = engine.fetch_source(paths, "pg_cron")
    assert (tree / "src" / "a.c").read_bytes() == b"int a;\n"

    (mirror / "x.tar").write_bytes(archive({**files, "src/a.c": b"int b;\n"}, "one", "w:gz"))
    with pytest.raises(StackError) as raised:
        engine.fetch_source(paths, "pg_cron")
    assert "is not the pinned pg_cron source" in str(raised.value) and pinned in str(raised.value)


def test_the_store_names_the_debian_packages_it_needs_when_it_cannot_install_them(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(engine, "missing_packages", lambda: ["postgresql-15", "libpcre2-dev"])
    with pytest.raises(StackError) as raised:
        engine.install_packages(tmp_path / "log", auto_install=False, echo=lambda _: None)
    assert str(raised.value).startswith("The local document store needs these Debian packages: postgresql-15 "
                                        "libpcre2-dev; install them")


def test_kafka_configuration_is_single_node_kraft_on_the_given_ports(paths: StackPaths) -> None:
    kafka = KafkaServer(paths, data_dir=paths.data / "k", log_dir=paths.logs, run_dir=paths.run, port=41000,
                        controller_port=41001)
    props = kafka.server_properties()
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:41001"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:41000,CONTROLLER://127.0.0.1:41001"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:41000"
    assert props["auto.create.topics.enable"] == "false"
    assert props["log.dirs"] == str(paths.data / "k")
    assert kafka.bootstrap == "127.0.0.1:41000"


def test_cluster_ids_look_like_kafkas() -> None:
    ids = {infra.kafka_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
    assert all(set(i) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") for i in ids)


def test_only_registration_gets_the_private_key_and_the_gateway_gets_the_upstreams() -> None:
    base = {"PATH": "/usr/bin", "JWT_PRIVATE_KEY": "leaked"}
    envs = {name: processes.service_environment(name, kafka_bootstrap="127.0.0.1:9092",
                                                mongodb_uri="mongodb://127.0.0.1:27017/",
                                                keys=("PRIVATE", "PUBLIC"), base=base)
            for name in processes.SERVICES}
    assert envs["registration"]["JWT_PRIVATE_KEY"] == "PRIVATE"
    assert all("JWT_PRIVATE_KEY" not in env for name, env in envs.items() if name != "registration")
    assert all(env["JWT_PUBLIC_KEY"] == "PUBLIC" and env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"
               for env in envs.values())
    assert envs["gateway"]["SERVICE_URL_REGISTRATION"] == "http://127.0.0.1:8001"
    assert envs["gateway"]["SERVICE_URL_STATS"] == "http://127.0.0.1:8006"
    assert "SERVICE_URL_GATEWAY" not in envs["gateway"]


def test_the_local_key_pair_is_made_once(paths: StackPaths) -> None:
    first = processes.ensure_keys(paths)
    assert first[0].startswith("-----BEGIN PRIVATE KEY-----")
    assert first[1].startswith("-----BEGIN PUBLIC KEY-----")
    assert processes.ensure_keys(paths) == first
    assert (paths.keys / "jwt_private.pem").stat().st_mode & 0o077 == 0


def test_the_root_is_found_upwards_or_from_plenary_home(paths: StackPaths, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLENARY_HOME", raising=False)
    nested = paths.root / "services" / "x"
    nested.mkdir(parents=True)
    assert processes.find_root(nested) == paths.root
    monkeypatch.setenv("PLENARY_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(StackError, match="is not a Plenary checkout"):
        processes.find_root(nested)


def test_status_is_a_table_with_each_components_cpu_and_memory() -> None:
    text = format_status([ComponentStatus("kafka", 123, 9092, "running"),
                          ComponentStatus("gateway", None, 8000, "stopped")], {123: Usage(2.25, 512.4)})
    assert text.splitlines() == [
        "component  pid  port  state    cpu   rss",
        "kafka      123  9092  running  2.2%  512 MiB",
        "gateway    -    8000  stopped  -     -",
    ]


def test_usage_counts_a_process_with_its_session() -> None:
    """A child in the leader's session counts with it (PostgreSQL's backends with the postmaster)."""
    import sys
    import time

    leader = subprocess.Popen([sys.executable, "-c", "import subprocess,sys; subprocess.run([sys.executable, '-c', "
                               "'x=bytearray(64<<20); import time; t=time.time()\\nwhile time.time()-t<3: pass'])"],
                              start_new_session=True)
    try:
        time.sleep(0.5)
        usage = measure_usage([leader.pid], seconds=1.0)[leader.pid]
        assert usage.cpu_percent > 5  # the busy child counts; the leader alone only waits (about 0)
        assert usage.rss_mib > 64
    finally:
        leader.kill()
        leader.wait()


def test_a_broker_that_does_not_answer_in_time_names_its_log(monkeypatch: pytest.MonkeyPatch,
                                                             paths: StackPaths) -> None:
    kafka = KafkaServer(paths, data_dir=paths.data / "kafka", log_dir=paths.logs, run_dir=paths.run)
    monkeypatch.setattr(processes, "pid_alive", lambda pid: True)
    monkeypatch.setattr(kafka, "probe", lambda timeout: False)
    with pytest.raises(StackError) as raised:
        kafka.wait_ready(12345, timeout=0)
    message = str(raised.value)
    assert message.startswith("Kafka did not answer on 127.0.0.1:9092 within 0 s")
    assert str(paths.logs / "kafka.log") in message


def test_a_server_that_exits_while_starting_quotes_its_last_log_line(monkeypatch: pytest.MonkeyPatch,
                                                                     paths: StackPaths) -> None:
    ferretdb = _ferretdb(paths)
    paths.logs.mkdir(parents=True)
    ferretdb.log_file.write_text("starting\nlevel=ERROR msg=\"listen tcp: address already in use\"\n")
    monkeypatch.setattr(processes, "pid_alive", lambda pid: False)
    with pytest.raises(StackError) as raised:
        ferretdb.wait_ready(12345, timeout=30)
    assert str(raised.value) == (f"FerretDB exited while starting; read {ferretdb.log_file} for the reason "
                                 '(last line: level=ERROR msg="listen tcp: address already in use").')
