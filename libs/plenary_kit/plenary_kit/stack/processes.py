"""Background processes of the local stack: where their state lives, pid files, ports, and the Python services.

`Daemon` is the one way this package runs something in the background: it refuses a taken port, spawns the
command in its own session with output to a log file, records the pid, waits until the thing answers, and stops it
by pid (SIGTERM to its process group, SIGKILL after a timeout). Kafka and FerretDB (`infra.py`) and the services
(below) are daemons. Failures a user can cause raise `StackError` with one sentence saying what to do.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

HOST = "127.0.0.1"

# name -> (module holding the ASGI `app`, port). Only services whose module is importable are started.
SERVICES: dict[str, tuple[str, int]] = {
    "gateway": ("gateway.app", 8000),
    "registration": ("registration.app", 8001),
    "sessions": ("sessions.app", 8002),
    "exhibition": ("exhibition.app", 8003),
    "networking": ("networking.app", 8004),
    "notifications": ("notifications.app", 8005),
    "stats": ("stats.app", 8006),
}
PRIVATE_KEY_HOLDER = "registration"


class StackError(Exception):
    """A failure the user can fix; the message is one sentence saying what to do."""


@dataclass(frozen=True)
class StackPaths:
    """The checkout and its git-ignored local state folder `.plenary/`."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / ".plenary"

    @property
    def cache(self) -> Path:
        return self.state / "cache"

    @property
    def run(self) -> Path:
        return self.state / "run"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def data(self) -> Path:
        return self.state / "data"

    @property
    def keys(self) -> Path:
        return self.state / "keys"

    @property
    def deploy(self) -> Path:
        return self.root / "deploy" / "local"


def find_root(start: Path | None = None) -> Path:
    """$PLENARY_HOME, else the nearest folder holding deploy/local/pom.xml above `start` (the cwd) or this file."""
    marker = Path("deploy") / "local" / "pom.xml"
    home = os.environ.get("PLENARY_HOME")
    if home:
        if not (Path(home) / marker).is_file():
            raise StackError(f"PLENARY_HOME={home} is not a Plenary checkout (it has no {marker}); fix or unset it.")
        return Path(home).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents, *Path(__file__).resolve().parents):
        if (candidate / marker).is_file():
            return candidate
    raise StackError(f"No Plenary checkout (a folder with {marker}) above {here}; run this inside the repository "
                     "or set PLENARY_HOME.")


# ----------------------------------------------------------------------------------------------- ports and pids


def port_in_use(port: int, host: str = HOST) -> bool:
    """True when something listens on host:port (SO_REUSEADDR, so sockets in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def port_taken_message(component: str, port: int) -> str:
    return (f"Port {port} on {HOST} is already in use, so {component} cannot listen there: stop whatever holds it "
            f"(`ss -ltnp 'sport = :{port}'` shows it; `plenary stack down` if it is an earlier stack) "
            "and try again.")


def free_ports(count: int, host: str = HOST) -> list[int]:
    """`count` distinct ports that are free right now (all bound at once, so they differ)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def accepts_connections(port: int, host: str = HOST, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# the processes this Python process spawned, so that their exit is collected (no zombies, no ResourceWarning)
_children: dict[int, subprocess.Popen[bytes]] = {}


def pid_alive(pid: int) -> bool:
    """True while `pid` runs. Our own child counts until it is reaped (this reaps it once it has exited);
    another process counts until all its threads have exited (a zombie thread-group leader whose other
    threads still run, as a JVM's is while it shuts down, is alive)."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        _children.pop(pid, None)
        return False
    try:
        return os.waitpid(pid, os.WNOHANG)[0] != pid
    except ChildProcessError:
        pass  # not our child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _all_threads_exited(pid)


def _all_threads_exited(pid: int) -> bool:
    states = []
    for task in Path(f"/proc/{pid}/task").glob("*/stat"):
        with contextlib.suppress(OSError):
            states.append(task.read_text().rsplit(")", 1)[-1].split()[0])
    return bool(states) and all(state in ("Z", "X") for state in states)


def process_cmdline(pid: int) -> str | None:
    """The command line of `pid`, or None where /proc cannot tell."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def terminate(pids: Iterable[int], timeout: float = 20.0) -> None:
    """SIGTERM each process (its whole group when it leads one), SIGKILL what is left after `timeout`."""
    targets = [pid for pid in pids if pid_alive(pid)]
    leaders = set()
    for pid in targets:
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:
                leaders.add(pid)
    _signal_all(targets, leaders, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(pid_alive(pid) for pid in targets) and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal_all([pid for pid in targets if pid_alive(pid)], leaders, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while any(pid_alive(pid) for pid in targets) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pgid in leaders:  # children that outlived their leader
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)


def _signal_all(pids: Sequence[int], leaders: set[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if pid in leaders:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)


def log_tail(path: Path, lines: int = 1) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


# ------------------------------------------------------------------------------------------------------ daemons


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    port: int
    state: str  # running | not answering | stopped | not installed


class Daemon:
    """One background process with a pid file, a log file and a readiness probe."""

    title = "process"
    stop_timeout = 20.0

    def __init__(self, name: str, *, port: int, run_dir: Path, log_dir: Path, extra_ports: Sequence[int] = ()):
        self.name = name
        self.port = port
        self.ports = (port, *extra_ports)
        self.run_dir = run_dir
        self.log_dir = log_dir

    # what subclasses provide
    marker = ""  # a string in the command line that proves a pid is ours

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> Mapping[str, str] | None:
        return None

    def popen_options(self) -> Mapping[str, object]:
        """Extra subprocess.Popen arguments (e.g. the user to run as)."""
        return {}

    def prepare(self) -> None:
        """Work before the first spawn (config files, storage format)."""

    def probe(self, timeout: float) -> bool:
        """One readiness check."""
        raise NotImplementedError

    # shared behaviour
    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    @property
    def output_file(self) -> Path:
        """Where the process's stdout and stderr go."""
        return self.log_file

    @property
    def cwd(self) -> Path:
        """The working folder of the process (crash dumps land here)."""
        return self.log_dir

    @property
    def logs_hint(self) -> str:
        if self.output_file == self.log_file:
            return str(self.log_file)
        return f"{self.log_file} (and {self.output_file})"

    def pid(self) -> int | None:
        """The pid of the running process; a pid file whose process is gone (or is someone else's) is removed."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        cmdline = process_cmdline(pid)
        if not pid_alive(pid) or (cmdline is not None and self.marker not in cmdline):
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def spawn(self) -> int:
        for port in self.ports:
            if port_in_use(port):
                raise StackError(port_taken_message(self.title, port))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        with self.output_file.open("ab") as out:
            proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=self.environment(), cwd=self.cwd, start_new_session=True,
                                    **self.popen_options())  # type: ignore[call-overload]
        _children[proc.pid] = proc
        self.pid_file.write_text(f"{proc.pid}\n")
        return proc.pid

    def wait_ready(self, pid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not pid_alive(pid):
                self.pid_file.unlink(missing_ok=True)
                last = log_tail(self.log_file)
                raise StackError(f"{self.title} exited while starting; read {self.logs_hint} for the reason"
                                 + (f" (last line: {last})." if last else "."))
            if self.probe(max(0.5, min(5.0, deadline - time.monotonic()))):
                return
            if time.monotonic() >= deadline:
                raise StackError(f"{self.title} did not answer on {HOST}:{self.port} within {timeout:.0f} s; "
                                 f"read {self.logs_hint} for the reason, then run `plenary stack down` and retry.")
            time.sleep(0.2)

    def start(self, timeout: float = 90.0) -> tuple[int, bool]:
        """Start unless running; wait until it answers. Returns (pid, started_now)."""
        pid = self.pid()
        started = pid is None
        if pid is None:
            pid = self.spawn()
        try:
            self.wait_ready(pid, timeout)
        except BaseException:
            if started:
                self.stop()
            raise
        return pid, started

    def stop(self) -> int | None:
        """Stop the process if it runs; returns the pid it had."""
        pid = self.pid()
        if pid is not None:
            terminate([pid], self.stop_timeout)
        self.pid_file.unlink(missing_ok=True)
        return pid

    def status(self) -> ComponentStatus:
        pid = self.pid()
        answering = pid is not None and accepts_connections(self.port)
        state = "running" if answering else "stopped" if pid is None else "not answering"
        return ComponentStatus(self.name, pid, self.port, state)


def start_together(daemons: Sequence[Daemon], timeout: float, *, also_spawn: Sequence[Daemon] = ()) -> None:
    """Spawn every daemon that is not running, in order, then wait until each answers. On any failure or
    interruption the ones this call spawned are stopped. No threads: an interrupt cannot leave one behind.
    `also_spawn` are spawned too (after `daemons`) but not waited for: the caller waits for them later."""
    running = {daemon for daemon in [*daemons, *also_spawn] if daemon.pid() is not None}
    try:
        pids = [daemon.pid() or daemon.spawn() for daemon in daemons]
        for daemon in also_spawn:
            daemon.pid() or daemon.spawn()
        for daemon, pid in zip(daemons, pids, strict=True):
            daemon.wait_ready(pid, timeout)
    except BaseException:
        stop_all([daemon for daemon in [*daemons, *also_spawn] if daemon not in running])
        raise


def stop_all(daemons: Sequence[Daemon]) -> None:
    """Stop several daemons at once (SIGTERM to all, then wait)."""
    pids = {daemon: daemon.pid() for daemon in daemons}
    terminate([pid for pid in pids.values() if pid is not None], max((d.stop_timeout for d in daemons), default=0))
    for daemon in daemons:
        daemon.pid_file.unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------------------- services


def service_available(name: str) -> bool:
    """True when the service's package is installed in this environment."""
    module = SERVICES[name][0]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def ensure_keys(paths: StackPaths) -> tuple[str, str]:
    """The local stack's Ed25519 JWT key pair as (private PEM, public PEM), made once into .plenary/keys/."""
    from plenary_kit.auth import generate_keypair

    private_file, public_file = paths.keys / "jwt_private.pem", paths.keys / "jwt_public.pem"
    if not (private_file.is_file() and public_file.is_file()):
        private, public = generate_keypair()
        paths.keys.mkdir(parents=True, exist_ok=True)
        fd = os.open(private_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(private)
        public_file.write_text(public)
    return private_file.read_text(), public_file.read_text()


def service_environment(name: str, *, kafka_bootstrap: str, mongodb_uri: str, keys: tuple[str, str],
                        base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of one service: endpoints, the public key, the private key for registration only."""
    env = dict(os.environ if base is None else base)
    env.update(KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap, MONGODB_URI=mongodb_uri, JWT_PUBLIC_KEY=keys[1],
               PYTHONUNBUFFERED="1")
    env.pop("JWT_PRIVATE_KEY", None)
    if name == PRIVATE_KEY_HOLDER:
        env["JWT_PRIVATE_KEY"] = keys[0]
    if name == "gateway":
        for other, (_, port) in SERVICES.items():
            if other != "gateway":
                env[f"SERVICE_URL_{other.upper()}"] = f"http://{HOST}:{port}"
    return env


class ServiceProcess(Daemon):
    """`python -m uvicorn <name>.app:app` on loopback; ready when GET /readyz answers 200."""

    stop_timeout = 15.0

    def __init__(self, name: str, *, env: Mapping[str, str], run_dir: Path, log_dir: Path, cwd: Path,
                 port: int | None = None):
        module, default_port = SERVICES[name]
        super().__init__(name, port=port or default_port, run_dir=run_dir, log_dir=log_dir)
        self._cwd = cwd
        self.title = f"the {name} service"
        self.target = f"{module}:app"
        self.marker = self.target
        self._env = env

    def command(self) -> list[str]:
        return [sys.executable, "-m", "uvicorn", self.target, "--host", HOST, "--port", str(self.port),
                "--no-access-log"]

    def environment(self) -> Mapping[str, str]:
        return self._env

    @property
    def cwd(self) -> Path:
        return self._cwd

    def probe(self, timeout: float) -> bool:
        try:
            return httpx.get(f"http://{HOST}:{self.port}/readyz", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def service_processes(paths: StackPaths, *, kafka_bootstrap: str = "", mongodb_uri: str = "",
                      names: Iterable[str] | None = None) -> list[ServiceProcess]:
    keys = ensure_keys(paths) if kafka_bootstrap else ("", "")
    return [ServiceProcess(name, env=service_environment(name, kafka_bootstrap=kafka_bootstrap,
                                                         mongodb_uri=mongodb_uri, keys=keys),
                           run_dir=paths.run, log_dir=paths.logs, cwd=paths.root)
            for name in (SERVICES if names is None else names)]


def start_services(paths: StackPaths, *, kafka_bootstrap: str, mongodb_uri: str,
                   names: Iterable[str] | None = None, timeout: float = 60.0) -> list[ServiceProcess]:
    """Start every importable service (all at once), then wait until each one's /readyz answers 200."""
    wanted = [name for name in (SERVICES if names is None else names) if service_available(name)]
    services = service_processes(paths, kafka_bootstrap=kafka_bootstrap, mongodb_uri=mongodb_uri, names=wanted)
    start_together(services, timeout)
    return services


def stop_services(paths: StackPaths) -> None:
    stop_all(service_processes(paths))


def service_statuses(paths: StackPaths) -> list[ComponentStatus]:
    statuses = []
    for service in service_processes(paths):
        status = service.status()
        if status.pid is None and not service_available(service.name):
            status = ComponentStatus(service.name, None, service.port, "not installed")
        statuses.append(status)
    return statuses
