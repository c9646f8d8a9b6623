"""The local document store: FerretDB 2.7 on Microsoft's DocumentDB extension on Debian's PostgreSQL 15.

It gives what the services rely on, as MongoDB does: atomic single-document updates (a conditional update has one
winner), indexes on any field, `$lookup`/`$facet`/`$group`. It does not give multi-document transactions or
change streams, and the code uses neither.

Install (idempotent; each part is skipped when what it made is present and its recipe is unchanged):
- Debian packages with apt-get (root only; otherwise one sentence names them).
- libbson 1.28 into a private prefix (Debian's 1.23 is too old for DocumentDB), pgvector 0.8.0 and pg_cron 1.6.3
  (Debian's 1.4 fails `CREATE EXTENSION documentdb`) built from pinned source archives, found in a local source
  mirror folder ($PLENARY_SOURCE_MIRROR, default ../shared/vendor beside the checkout when it exists) or
  downloaded from upstream; either way the extracted tree must match its pinned content digest.
- DocumentDB (`pg_documentdb_core`, `pg_documentdb`) built with PGXS into the system PostgreSQL's folders.
- FerretDB with `go install` into .plenary/cache/bin.
Run: a PostgreSQL cluster on a loopback port started with the preload settings (as Debian's `postgres` user when
we are root: PostgreSQL refuses root, and its folders then live under /var/lib/plenary, since a checkout under a
mode-700 folder is not reachable by that user), `CREATE EXTENSION documentdb CASCADE` once, and FerretDB on a
loopback port in front of it.
"""

from __future__ import annotations

import hashlib
import io
import os
import pwd
import re
import shutil
import subprocess
import tarfile
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from plenary_kit.stack.processes import HOST, Daemon, StackError, StackPaths, accepts_connections

Echo = Callable[[str], None]

PG_VERSION = "15"
PG_BIN = Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")
PG_CONFIG = PG_BIN / "pg_config"
POSTGRES_PORT = 54329
FERRETDB_PORT = 27017
FERRETDB_MODULE = "github.com/FerretDB/FerretDB/v2/cmd/ferretdb"
FERRETDB_VERSION = "v2.7.0"
ENGINE_RECIPE = "plenary-engine-1"  # bump when the way the extensions are built changes
RUN_AS = "postgres"  # the system user PostgreSQL runs as when we are root

# what DocumentDB builds and runs with (`postgresql-15-cron` stays out: it is too old and would shadow pg_cron 1.6)
APT_PACKAGES = ("postgresql-15", "postgresql-server-dev-15", "postgresql-15-rum", "postgresql-15-postgis-3",
                "libpcre2-dev", "libintelrdfpmath-dev", "build-essential", "cmake", "pkg-config", "libkrb5-dev",
                "libicu-dev", "libssl-dev")


@dataclass(frozen=True)
class SourceArchive:
    """A pinned source tree: the archive's name in the mirror, its upstream URL, and the sha256 of its content
    (see `tree_digest`), which is the same for the mirror's archive and upstream's archive of the same commit."""

    name: str
    url: str
    tree_sha256: str
    skip: tuple[str, ...] = ()  # paths the mirror leaves out, left out of the digest too


ARCHIVES = {
    "libbson": SourceArchive(
        "mongo-c-driver-1.28.0.tar.gz",
        "https://github.com/mongodb/mongo-c-driver/archive/a463a46c38cb6b552f2da4b3ae63e393dfe0a9a6.tar.gz",
        "f7b65deec6f415b2b751162a163c0db2ccd72ca952152f3d7a3b9fa7fdd178f8",
        skip=("src/libbson/tests/binary/stackoverflow.bson",)),
    "pgvector": SourceArchive(
        "pgvector-0.8.0.tar.gz",
        "https://github.com/pgvector/pgvector/archive/2627c5ff775ae6d7aef0c430121ccf857842d2f2.tar.gz",
        "5268b1190143a5ce90e2649f2d74c119703b3c433a05d08ada2b94d81cc1be28"),
    "pg_cron": SourceArchive(
        "pg_cron-1.6.3.tar.gz",
        "https://github.com/citusdata/pg_cron/archive/9d0576c64edd90fb3d8ac30763296a8106315638.tar.gz",
        "0d6de2239f9cc9f9838c3bd125425adc28ea8b3a75faf13b74de47a1e5fae66c"),
    "documentdb": SourceArchive(
        "documentdb-0.107-0-ferretdb-3f80da90.tar.gz",
        "https://github.com/FerretDB/documentdb/archive/3f80da90a9e0b04f214183aa656c4fb0b4bc31e4.tar.gz",
        "e1a2aa3bf84af69ac0f0ebb2d8a0f753c4bbe3fec78add96df830f1c4b852fc8"),
}

POSTGRES_SETTINGS = {
    "listen_addresses": f"'{HOST}'",
    "unix_socket_directories": "''",  # TCP on loopback only
    "shared_preload_libraries": "'pg_cron,pg_documentdb_core,pg_documentdb'",
    "cron.database_name": "'postgres'",
    "documentdb.enableBackgroundWorker": "true",
    "documentdb.enableBackgroundWorkerJobs": "true",
    "documentdb.enableCompact": "true",
    "documentdb.enableLetAndCollationForQueryMatch": "true",
    "documentdb.enableNowSystemVariable": "true",
    "documentdb.enableSortbyIdPushDownToPrimaryKey": "true",
    "documentdb.enableSchemaValidation": "true",
    "documentdb.enableBypassDocumentValidation": "true",
    "documentdb.enableUserCrud": "true",
    "documentdb.maxUserLimit": "100",
    "ssl": "off",
    "shared_buffers": "128MB",
    "max_connections": "300",  # FerretDB keeps a pool per client: every service and test client has one
    "fsync": "off",  # a development store: a crash of the machine may lose it, a crash of a process does not
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "logging_collector": "off",
    "log_min_messages": "warning",
}


def _stderr(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------- the sources


def tree_digest(tar: tarfile.TarFile, skip: Sequence[str] = ()) -> str:
    """sha256 over the regular files of an archive (path below the top folder, then content), in path order:
    the same for two archives of one tree whatever their compression, timestamps or top folder's name."""
    entries = []
    for member in tar.getmembers():
        if not member.isfile():
            continue
        path = member.name.split("/", 1)[1] if "/" in member.name else member.name
        if path in skip:
            continue
        handle = tar.extractfile(member)
        entries.append((path, hashlib.sha256(handle.read() if handle else b"").hexdigest()))
    digest = hashlib.sha256()
    for path, content in sorted(entries):
        digest.update(f"{path}\0{content}\n".encode())
    return digest.hexdigest()


def source_mirror(paths: StackPaths) -> Path | None:
    configured = os.environ.get("PLENARY_SOURCE_MIRROR")
    if configured:
        return Path(configured)
    default = paths.root.parent / "shared" / "vendor"
    return default if default.is_dir() else None


def fetch_source(paths: StackPaths, key: str, echo: Echo = _stderr) -> Path:
    """Unpack a pinned archive into .plenary/cache/src/<key> (from the mirror, else upstream) after checking its
    content digest; returns the unpacked tree's folder."""
    archive = ARCHIVES[key]
    mirror = source_mirror(paths)
    local = mirror / archive.name if mirror else None
    if local is not None and local.is_file():
        data, origin = local.read_bytes(), str(local)
    else:
        echo(f"Downloading {archive.url} (no {archive.name} in a source mirror; set PLENARY_SOURCE_MIRROR) ...")
        try:
            with urllib.request.urlopen(archive.url, timeout=120) as answer:  # noqa: S310 - a fixed https URL
                data = answer.read()
        except OSError as exc:
            raise StackError(f"Could not download {archive.url} ({exc}); put {archive.name} in a folder and point "
                             "PLENARY_SOURCE_MIRROR at it, then run `plenary stack install` again.") from exc
        origin = archive.url
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        found = tree_digest(tar, archive.skip)
        if found != archive.tree_sha256:
            raise StackError(f"{origin} is not the pinned {key} source (content sha256 {found}, expected "
                             f"{archive.tree_sha256}); replace it with the pinned archive and try again.")
        target = paths.cache / "src" / key
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        tar.extractall(target, filter="data")
    tops = [child for child in target.iterdir() if child.is_dir()]
    return tops[0] if len(tops) == 1 else target


# ------------------------------------------------------------------------------------------------------ install


def _run(cmd: Sequence[str], log: Path, *, cwd: Path | None = None, env: dict[str, str] | None = None,
         what: str) -> None:
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        code = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT, check=False).returncode
    if code != 0:
        raise StackError(f"{what} failed (exit {code}); the last lines of {log} say why. Fix that and run "
                         "`plenary stack install` again.")


def missing_packages() -> list[str]:
    """The Debian packages of APT_PACKAGES that are not installed."""
    if shutil.which("dpkg-query") is None:
        return list(APT_PACKAGES)
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *APT_PACKAGES],
                          capture_output=True, text=True, check=False).stdout
    installed = {line.split()[0] for line in done.splitlines() if line.endswith(" installed")}
    return [package for package in APT_PACKAGES if package not in installed]


def install_packages(log: Path, *, auto_install: bool, echo: Echo) -> None:
    missing = missing_packages()
    if not missing:
        return
    if not (auto_install and os.geteuid() == 0 and shutil.which("apt-get")):
        raise StackError(f"The local document store needs these Debian packages: {' '.join(missing)}; install "
                         f"them (`sudo apt-get install -y {' '.join(missing)}`) or run the command as root.")
    echo(f"Installing {len(missing)} Debian packages for PostgreSQL and DocumentDB with apt-get (log: {log}) ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-q"], log, env=env, what="apt-get update")
    _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], log, env=env,
         what=f"apt-get install {' '.join(missing)}")


def engine_prefix(paths: StackPaths) -> Path:
    """Where libbson and the pkg-config files DocumentDB's build asks for are installed (a private prefix)."""
    return paths.cache / "engine"


def ferretdb_binary(paths: StackPaths) -> Path:
    """Named by version, so that a checkout of another version sharing the cache does not replace it."""
    return paths.cache / "bin" / f"ferretdb-{FERRETDB_VERSION}" / "ferretdb"


def _extension_dir() -> Path:
    out = subprocess.run([str(PG_CONFIG), "--sharedir"], capture_output=True, text=True, check=False).stdout
    return Path(out.strip() or f"/usr/share/postgresql/{PG_VERSION}") / "extension"


def _fingerprint() -> str:
    digests = " ".join(f"{key}={archive.tree_sha256[:12]}" for key, archive in sorted(ARCHIVES.items()))
    return f"{ENGINE_RECIPE} {digests}\n"


def _marker() -> Path:
    return _extension_dir() / "plenary-engine.txt"


def extensions_installed() -> bool:
    """True when this machine's PostgreSQL has the extensions this recipe builds."""
    if not PG_CONFIG.is_file():
        return False
    marker, folder = _marker(), _extension_dir()
    return (marker.is_file() and marker.read_text() == _fingerprint()
            and all((folder / f"{name}.control").is_file() for name in ("documentdb", "pg_cron", "vector")))


def ferretdb_installed(paths: StackPaths) -> bool:
    marker = ferretdb_binary(paths).with_name("ferretdb.version")
    return ferretdb_binary(paths).is_file() and marker.is_file() and marker.read_text() == f"{FERRETDB_VERSION}\n"


def install_extensions(paths: StackPaths, log: Path, *, auto_install: bool, echo: Echo) -> None:
    """libbson, pgvector, pg_cron and DocumentDB into the system PostgreSQL, unless present for this recipe."""
    install_packages(log, auto_install=auto_install, echo=echo)
    if extensions_installed():
        return
    if os.geteuid() != 0 and not os.access(_extension_dir(), os.W_OK):
        raise StackError(f"Building DocumentDB installs into {_extension_dir()}, which this user cannot write: "
                         "run `plenary stack install` as root once.")
    echo(f"Building libbson, pgvector, pg_cron and DocumentDB for PostgreSQL {PG_VERSION}; a first build takes "
         f"about five minutes (log: {log}) ...")
    prefix = engine_prefix(paths)
    jobs = str(max(1, os.cpu_count() or 1))
    # no LLVM bitcode for PostgreSQL's JIT: it would double the build time for a development server
    pg_config = f"PG_CONFIG={PG_CONFIG}"
    no_jit = "with_llvm=no"

    bson = fetch_source(paths, "libbson", echo)
    build = bson / "cmake-build"
    _run(["cmake", "-S", str(bson), "-B", str(build), "-DENABLE_MONGOC=OFF", "-DENABLE_TESTS=OFF",
          "-DENABLE_EXAMPLES=OFF", "-DENABLE_STATIC=ON", "-DENABLE_SHARED=ON", "-DCMAKE_C_FLAGS=-fPIC",
          "-DBUILD_VERSION=1.28.0", "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_INSTALL_PREFIX={prefix}"],
         log, what="Configuring libbson")
    _run(["cmake", "--build", str(build), "--parallel", jobs], log, what="Building libbson")
    _run(["cmake", "--install", str(build)], log, what="Installing libbson")

    for key, extra in (("pgvector", ["OPTFLAGS="]), ("pg_cron", [])):
        source = fetch_source(paths, key, echo)
        _run(["make", "-j", jobs, pg_config, no_jit, *extra], log, cwd=source, what=f"Building {key}")
        _run(["make", "install", pg_config, no_jit, *extra], log, cwd=source, what=f"Installing {key}")

    pkgconfig = _write_intelmathlib_pc(prefix)
    env = {**os.environ, "PKG_CONFIG_PATH": os.pathsep.join(
        [str(pkgconfig), str(prefix / "lib" / "pkgconfig"), str(prefix / "lib64" / "pkgconfig"),
         os.environ.get("PKG_CONFIG_PATH", "")]).rstrip(os.pathsep)}
    documentdb = fetch_source(paths, "documentdb", echo)
    for part in ("pg_documentdb_core", "pg_documentdb"):
        _run(["make", "-j", jobs, pg_config, no_jit], log, cwd=documentdb / part, env=env, what=f"Building {part}")
        _run(["make", "install", pg_config, no_jit], log, cwd=documentdb / part, env=env,
             what=f"Installing {part}")
    shutil.rmtree(paths.cache / "src", ignore_errors=True)
    _marker().write_text(_fingerprint())


def _write_intelmathlib_pc(prefix: Path) -> Path:
    """Debian's Intel decimal library has no intelmathlib.pc, which DocumentDB's build asks pkg-config for."""
    found = sorted(Path("/usr/lib").glob("*/libbidgcc000.a")) + sorted(Path("/usr/lib").glob("libbidgcc000.a"))
    if not found:
        raise StackError("libbidgcc000.a (Debian's libintelrdfpmath-dev) was not found under /usr/lib; install "
                         "libintelrdfpmath-dev and try again.")
    folder = prefix / "pkgconfig-extra"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "intelmathlib.pc").write_text(
        f"libdir={found[0].parent}\nincludedir=/usr/include\n\nName: intelmathlib\n"
        "Description: Intel decimal floating-point math library (Debian's libintelrdfpmath)\nVersion: 2.0\n"
        "Libs: -L${libdir} -lbidgcc000\nCflags: -I${includedir}\n")
    return folder


def install_ferretdb(paths: StackPaths, log: Path, *, go: str, echo: Echo) -> Path:
    binary = ferretdb_binary(paths)
    if ferretdb_installed(paths):
        return binary
    echo(f"Building FerretDB {FERRETDB_VERSION} with Go; a first build takes a few minutes (log: {log}) ...")
    binary.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(binary.parent), "GOWORK": "off", "CGO_ENABLED": "0",
           "GOTOOLCHAIN": os.environ.get("GOTOOLCHAIN", "auto"),
           "GOFLAGS": f"{os.environ.get('GOFLAGS', '')} -buildvcs=false".strip()}
    _run([go, "install", f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"], log, env=env,
         what=f"Building FerretDB {FERRETDB_VERSION} (check that the Go module proxy is reachable)")
    if not binary.is_file():
        raise StackError(f"`go install` did not leave FerretDB at {binary}; see {log}.")
    binary.with_name("ferretdb.version").write_text(f"{FERRETDB_VERSION}\n")
    return binary


# ------------------------------------------------------------------------------------------------------ running


def runs_as_other_user() -> bool:
    return os.geteuid() == 0


def cluster_base(paths: StackPaths) -> Path:
    """Where this checkout's PostgreSQL clusters live: as root, a postgres-owned folder under /var/lib/plenary
    named by the checkout's path (every parent must be reachable by that user); otherwise .plenary/data."""
    if not runs_as_other_user():
        return paths.data
    key = hashlib.sha256(str(paths.root.resolve()).encode()).hexdigest()[:16]
    return Path("/var/lib/plenary") / key


def _owned_folder(folder: Path) -> Path:
    """Make `folder` (mode 700) and give it to the PostgreSQL user when we are root."""
    folder.mkdir(parents=True, exist_ok=True)
    if runs_as_other_user():
        user = pwd.getpwnam(RUN_AS)
        top = Path("/var/lib/plenary")
        top.mkdir(exist_ok=True)
        os.chmod(top, 0o755)  # noqa: S103 - traversable by the postgres user; each cluster's folder is 700
        for part in [folder, *folder.parents]:
            if part == top or top not in part.parents:
                break
            os.chown(part, user.pw_uid, user.pw_gid)
            os.chmod(part, 0o700 if part == folder else 0o755)
    return folder


def _as_postgres() -> dict[str, object]:
    """Popen arguments that run a child as the PostgreSQL user when we are root (no intermediate process)."""
    if not runs_as_other_user():
        return {}
    user = pwd.getpwnam(RUN_AS)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


class PostgresServer(Daemon):
    """PostgreSQL 15 with DocumentDB preloaded, on a loopback TCP port only."""

    title = "PostgreSQL"
    marker = "postgres"
    stop_timeout = 30.0

    def __init__(self, *, data_dir: Path, log_dir: Path, run_dir: Path, port: int = POSTGRES_PORT,
                 name: str = "postgres"):
        super().__init__(name, port=port, run_dir=run_dir, log_dir=log_dir)
        self.data_dir = data_dir
        self._extension_ready = False

    @property
    def url(self) -> str:
        return f"postgres://postgres@{HOST}:{self.port}/postgres"

    def command(self) -> list[str]:
        return [str(PG_BIN / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]

    def popen_options(self) -> dict[str, object]:
        return _as_postgres()

    @property
    def cwd(self) -> Path:
        return self.data_dir

    def prepare(self) -> None:
        """initdb the first time; the settings are written on every start (a changed recipe takes effect)."""
        if not (PG_BIN / "initdb").is_file():
            raise StackError(f"PostgreSQL {PG_VERSION} is not installed ({PG_BIN} is missing): run "
                             "`plenary stack install` first.")
        _owned_folder(self.data_dir.parent)
        if not (self.data_dir / "PG_VERSION").is_file():
            shutil.rmtree(self.data_dir, ignore_errors=True)
            with self.output_file.open("ab") as out:
                code = subprocess.run([str(PG_BIN / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                                       "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                                      stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, check=False,
                                      cwd=self.data_dir.parent, **_as_postgres()).returncode  # type: ignore[call-overload]
            if code != 0:
                raise StackError(f"initdb of {self.data_dir} failed; read {self.output_file} for the reason.")
        conf = self.data_dir / "plenary.conf"
        conf.write_text("".join(f"{key} = {value}\n" for key, value in POSTGRES_SETTINGS.items()))
        main = self.data_dir / "postgresql.conf"
        text = main.read_text()
        if "include_if_exists = 'plenary.conf'" not in text:
            main.write_text(text + "\ninclude_if_exists = 'plenary.conf'\n")
        if runs_as_other_user():
            user = pwd.getpwnam(RUN_AS)
            os.chown(conf, user.pw_uid, user.pw_gid)
        self._extension_ready = False

    def psql(self, sql: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-p",
                               str(self.port), "-U", "postgres", "-d", "postgres", "-c", sql],
                              capture_output=True, text=True, timeout=timeout, check=False)

    def probe(self, timeout: float) -> bool:
        """Answers, and has the DocumentDB extension (created once, on the first answer)."""
        if not accepts_connections(self.port, timeout=timeout):
            return False
        if self._extension_ready:
            return True
        done = self.psql("CREATE EXTENSION IF NOT EXISTS documentdb CASCADE;")
        if done.returncode != 0:
            if "starting up" in done.stderr or "could not connect" in done.stderr:
                return False
            raise StackError(f"CREATE EXTENSION documentdb failed: {done.stderr.strip()[:300]}; run "
                             "`plenary stack install` again (it rebuilds the extensions when their recipe changed).")
        self._extension_ready = True
        return True


class FerretDBServer(Daemon):
    """FerretDB 2 (MongoDB wire protocol on loopback, no authentication) in front of a PostgreSQL with DocumentDB."""

    title = "FerretDB"
    marker = "ferretdb"
    stop_timeout = 15.0

    def __init__(self, paths: StackPaths, *, postgres: PostgresServer, state_dir: Path, log_dir: Path,
                 run_dir: Path, port: int = FERRETDB_PORT, name: str = "ferretdb"):
        super().__init__(name, port=port, run_dir=run_dir, log_dir=log_dir)
        self.paths = paths
        self.postgres = postgres
        self.state_dir = state_dir

    @property
    def uri(self) -> str:
        return f"mongodb://{HOST}:{self.port}/"

    def command(self) -> list[str]:
        binary = ferretdb_binary(self.paths)
        if not binary.is_file():
            raise StackError(f"FerretDB is not installed at {binary}: run `plenary stack install` first.")
        return [str(binary), f"--postgresql-url={self.postgres.url}", f"--listen-addr={HOST}:{self.port}",
                "--no-auth", f"--state-dir={self.state_dir}", "--debug-addr=-", "--telemetry=disable",
                "--log-level=warn", "--log-format=text"]

    def environment(self) -> dict[str, str]:
        return {**os.environ, "DO_NOT_TRACK": "1"}

    def prepare(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)

    def probe(self, timeout: float) -> bool:
        from plenary_kit.stack.infra import mongo_answers

        return accepts_connections(self.port, timeout=timeout) and mongo_answers(self.uri, timeout)


def stop_orphan_cluster(data_dir: Path) -> None:
    """Stop a PostgreSQL whose pid file we lost, by the pid it wrote into its data folder."""
    from plenary_kit.stack.processes import process_cmdline, terminate

    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    if "postgres" in (process_cmdline(pid) or "") and str(data_dir) in (process_cmdline(pid) or ""):
        terminate([pid], 30.0)


def remove_cluster(folder: Path) -> None:
    """Delete a cluster's folder (tests' clusters are thrown away); safe when it does not exist."""
    if re.fullmatch(r".*/(var/lib/plenary|\.plenary)/.+", str(folder)):
        shutil.rmtree(folder, ignore_errors=True)
