"""The deployment files: docker-compose.yml, the Dockerfiles, Prometheus and the Kubernetes manifests.

No Docker and no cluster. docker-compose.yml is validated against the compose-spec JSON Schema that the
`check-jsonschema` package ships; Kubernetes objects against the schemas that `kubernetes-validate` ships.
The kustomize overlays are rendered by a kustomize binary that a session fixture builds once with
`go install` into .plenary/cache/bin (that first build fetches modules through the Go module proxy; later
runs reuse the binary). Without `go` those tests are skipped.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from jsonschema import validators

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
K8S = REPO / "deploy" / "k8s"
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"

# The platform's services and their HTTP ports (the brief's fixed conventions).
PORTS = {
    "gateway": 8000,
    "registration": 8001,
    "sessions": 8002,
    "exhibition": 8003,
    "networking": 8004,
    "notifications": 8005,
    "stats": 8006,
}
UPSTREAMS = {name: port for name, port in PORTS.items() if name != "gateway"}
COMMON_ENV = ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI", "JWT_ISSUER", "JWT_AUDIENCE", "LOG_LEVEL")
SMTP_ENV = ("SMTP_HOST", "SMTP_PORT", "SMTP_FROM")
NAMESPACE = "plenary"
# Kinds whose schema comes from a CRD, not from Kubernetes itself: checked field by field below.
CRD_KINDS = {"ServiceMonitor"}
# Oldest Kubernetes the manifests target, and the newest schemas the package ships.
K8S_VERSIONS = ("1.30", kubernetes_validate.latest_version())
KUSTOMIZE_VERSION = "v5.8.2"  # the newest v5 that builds with Go 1.26
KUSTOMIZE_BIN_DIR = REPO / ".plenary" / "cache" / "bin"
OVERLAYS = ("dev", "prod")


# ----------------------------------------------------------------------------------------- helpers
def service_dirs() -> list[str]:
    """Every service folder under services/ (each one must be deployable)."""
    root = REPO / "services"
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


@cache
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict), "docker-compose.yml is not a mapping"
    return loaded


@cache
def compose_schema() -> dict[str, Any]:
    """The compose-spec schema vendored by check-jsonschema, read as a data file of the installed
    distribution (importing check_jsonschema would load its click CLI, which is not needed here)."""
    relative = "check_jsonschema/builtin_schemas/vendor/compose-spec.json"
    dist = distribution("check-jsonschema")
    assert any(str(f) == relative for f in dist.files or []), f"check-jsonschema {dist.version} lacks {relative}"
    schema: dict[str, Any] = json.loads(Path(str(dist.locate_file(relative))).read_text(encoding="utf-8"))
    return schema


def schema_errors(schema: dict[str, Any], document: Any) -> list[str]:
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return [
        f"{'/'.join(str(part) for part in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def healthcheck_text(service: dict[str, Any]) -> str:
    test = service.get("healthcheck", {}).get("test", [])
    return " ".join(test) if isinstance(test, list) else str(test)


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def k8s_schema_errors(doc: dict[str, Any]) -> list[str]:
    name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    errors = []
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = "/".join(str(part) for part in error.path)
            errors.append(f"{name} (Kubernetes {version}) at {path or '<root>'}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            errors.append(f"{name}: {error.message}")
    return errors


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, rest = full.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, f"{path}: the last instruction ends with a line continuation"
    return instructions


def stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions:
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def dockerignored(relative: str) -> bool:
    ignored = False
    for pattern in dockerignore_patterns():
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        candidates = {pattern, pattern.removeprefix("**/")}
        if any(fnmatch.fnmatch(relative, c) or relative.startswith(c + "/") for c in candidates):
            ignored = not negate
    return ignored


# ------------------------------------------------------------------------------ docker-compose.yml
def test_compose_file_validates_against_the_compose_spec_schema() -> None:
    schema = compose_schema()
    assert "compose" in schema.get("$id", "") or "compose" in schema.get("title", "").lower()
    errors = schema_errors(schema, compose())
    assert errors == [], "docker-compose.yml breaks the compose-spec schema:\n" + "\n".join(errors)


def test_the_compose_schema_catches_a_misspelt_key() -> None:
    broken = copy.deepcopy(compose())
    broken["services"]["gateway"]["helthcheck"] = broken["services"]["gateway"].pop("healthcheck")
    broken["services"]["kafka"]["depends_on"] = {"mongo": {"condition": "when_it_feels_like_it"}}
    errors = schema_errors(compose_schema(), broken)
    assert any("helthcheck" in error for error in errors), errors
    assert any("when_it_feels_like_it" in error for error in errors), errors


def test_compose_interpolates_only_documented_variables() -> None:
    """A lone `$` in a shell snippet would be eaten by compose's interpolation: scripts must write `$$`."""
    allowed = {"LOG_LEVEL", "PLENARY_BIND"}
    text = COMPOSE_FILE.read_text()
    problems = []
    for match in re.finditer(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|\$([A-Za-z_][A-Za-z0-9_]*)?", text):
        if match.group(0) == "$$":
            continue
        name = match.group(1)
        if name not in allowed:
            line = text.count("\n", 0, match.start()) + 1
            problems.append(f"line {line}: {match.group(0)!r}")
    assert problems == [], "unescaped or undocumented interpolation in docker-compose.yml: " + ", ".join(problems)


def test_every_service_directory_is_deployed() -> None:
    found = service_dirs()
    assert found, "no service folders under services/"
    unknown = sorted(set(found) - set(PORTS))
    assert unknown == [], f"services without a port in this test's PORTS table: {unknown}"
    base_resources = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())["resources"]
    for name in found:
        assert name in compose()["services"], f"services/{name} has no service in docker-compose.yml"
        assert (REPO / "services" / name / "Dockerfile").is_file(), f"services/{name} has no Dockerfile"
        manifest = K8S / "base" / f"{name}.yaml"
        assert manifest.is_file(), f"services/{name} has no manifest deploy/k8s/base/{name}.yaml"
        assert f"{name}.yaml" in base_resources, f"deploy/k8s/base/kustomization.yaml does not list {name}.yaml"
        kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in load_all(manifest)}
        assert {("Deployment", name), ("Service", name), ("ServiceAccount", name)} <= kinds, kinds


@pytest.mark.parametrize("name", sorted(PORTS))
def test_compose_runs_each_service_hardened_with_its_settings(name: str) -> None:
    port = PORTS[name]
    service = compose()["services"].get(name)
    assert service is not None, f"{name} is missing from docker-compose.yml"
    assert service["build"] == {"context": ".", "dockerfile": f"services/{name}/Dockerfile"}
    assert service["command"] == ["uvicorn", f"{name}.app:app", "--host", "0.0.0.0", "--port", str(port)]

    check = healthcheck_text(service)
    assert "python" in check and f"127.0.0.1:{port}/healthz" in check, check

    deps = depends_on(service)
    assert deps.get("kafka") == "service_healthy"
    assert deps.get("mongo") == "service_healthy"
    assert deps.get("mongo-init") == "service_completed_successfully"

    env = env_of(service)
    for key in COMMON_ENV:
        assert env.get(key), f"{name} lacks {key}"
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["MONGODB_URI"].startswith("mongodb://mongo:27017/")
    secrets = set(service.get("secrets", []))
    assert env.get("JWT_PUBLIC_KEY_FILE") == "/run/secrets/jwt_public_key" and "jwt_public_key" in secrets
    if name == "registration":
        assert env.get("JWT_PRIVATE_KEY_FILE") == "/run/secrets/jwt_private_key"
        assert "jwt_private_key" in secrets
    else:
        assert "JWT_PRIVATE_KEY_FILE" not in env and "JWT_PRIVATE_KEY" not in env
        assert "jwt_private_key" not in secrets, f"{name} must not see the signing key"
    # The entrypoint turns the *_FILE secrets into the PEM variables the settings read.
    entrypoint = " ".join(service["entrypoint"])
    assert "export JWT_PUBLIC_KEY" in entrypoint and "export JWT_PRIVATE_KEY" in entrypoint
    assert 'exec "$$@"' in entrypoint

    assert service.get("read_only") is True
    assert "/tmp" in service.get("tmpfs", [])
    assert service.get("cap_drop") == ["ALL"]
    assert "no-new-privileges:true" in service.get("security_opt", [])


def test_compose_gateway_knows_every_upstream() -> None:
    gateway = compose()["services"]["gateway"]
    env = env_of(gateway)
    for name, port in UPSTREAMS.items():
        assert env.get(f"SERVICE_URL_{name.upper()}") == f"http://{name}:{port}"
        assert depends_on(gateway).get(name) == "service_healthy", f"gateway should wait for {name}"


def test_compose_notifications_send_to_mailpit() -> None:
    services = compose()["services"]
    assert services["mailpit"]["image"].startswith("axllent/mailpit:")
    env = env_of(services["notifications"])
    assert {key for key in SMTP_ENV if env.get(key)} == set(SMTP_ENV)
    assert env["SMTP_HOST"] == "mailpit" and env["SMTP_PORT"] == "1025"
    assert env.get("PUBLIC_BASE_URL") == "http://127.0.0.1:8000", "e-mail links must reach the published gateway"
    assert depends_on(services["notifications"]).get("mailpit") == "service_healthy"


def test_compose_kafka_is_a_single_kraft_node() -> None:
    kafka = compose()["services"]["kafka"]
    assert kafka["image"] == "apache/kafka:4.1.1"
    env = env_of(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node_id = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{node_id}@kafka:9093"
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    assert "CONTROLLER://:9093" in env["KAFKA_LISTENERS"]
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"]), "CLUSTER_ID must be a base64 UUID"
    # With one broker, the internal topics cannot ask for more replicas than that.
    for key, value in env.items():
        if key.endswith("REPLICATION_FACTOR") or key.endswith("MIN_ISR"):
            assert value == "1", key
    assert "kafka-broker-api-versions.sh" in healthcheck_text(kafka)


def test_compose_mongo_is_a_replica_set_initiated_once() -> None:
    services = compose()["services"]
    mongo, init = services["mongo"], services["mongo-init"]
    assert mongo["image"].startswith("mongo:7")
    command = mongo["command"]
    replica_set = command[command.index("--replSet") + 1]
    assert "isWritablePrimary" in healthcheck_text(mongo), "mongo is healthy only as PRIMARY"

    assert init["image"] == mongo["image"]
    assert init.get("restart") == "no"
    assert depends_on(init) == {"mongo": "service_started"}, "init must not wait for a PRIMARY it creates"
    script = " ".join(init["entrypoint"] + init.get("command", []))
    assert "rs.initiate(" in script and f'_id: "{replica_set}"' in script
    assert "NotYetInitialized" in script, "a second run must leave an initiated replica set alone"
    assert 'host: "mongo:27017"' in script
    assert "isWritablePrimary" in script

    uri = env_of(services["registration"])["MONGODB_URI"]
    assert f"replicaSet={replica_set}" in uri


def test_compose_dependencies_can_all_be_met() -> None:
    services = compose()["services"]
    graph = {name: depends_on(service) for name, service in services.items()}
    for name, deps in graph.items():
        for target, condition in deps.items():
            assert target in services, f"{name} depends on unknown service {target}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}, which has no healthcheck"
            if condition == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} is a one-shot job"
    # No cycles: Kahn's algorithm must consume every service.
    remaining = {name: set(deps) for name, deps in graph.items()}
    while remaining:
        free = [name for name, deps in remaining.items() if not deps]
        assert free, f"dependency cycle among {sorted(remaining)}"
        for name in free:
            del remaining[name]
        for deps in remaining.values():
            deps.difference_update(free)


def test_compose_secrets_are_declared_and_kept_out_of_git() -> None:
    declared = compose()["secrets"]
    for name, service in compose()["services"].items():
        for secret in service.get("secrets", []):
            assert secret in declared, f"{name} uses undeclared secret {secret}"
    for name, secret in declared.items():
        # .plenary/ is git-ignored: the key files are made locally (see the header of docker-compose.yml).
        assert secret["file"].startswith("./.plenary/keys/"), name
    assert ".plenary/" in (REPO / ".gitignore").read_text().split()
    assert "openssl genpkey -algorithm ed25519" in COMPOSE_FILE.read_text()


def test_compose_publishes_only_the_gateway_prometheus_and_mailpit() -> None:
    published = {}
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            container_port = int(str(port).rsplit(":", 1)[-1].split("/")[0])
            published.setdefault(name, set()).add(container_port)
    assert published == {"gateway": {8000}, "prometheus": {9090}, "mailpit": {8025}}


def test_compose_prometheus_uses_the_repo_config() -> None:
    prometheus = compose()["services"]["prometheus"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]


# ------------------------------------------------------------------------------------- Dockerfiles
@pytest.mark.parametrize("name", service_dirs())
def test_dockerfile_builds_a_small_non_root_image(name: str) -> None:
    path = REPO / "services" / name / "Dockerfile"
    assert path.is_file(), f"services/{name}/Dockerfile is missing"
    port = PORTS[name]
    parsed = stages(dockerfile_instructions(path))
    assert len(parsed) >= 2, "the Dockerfile must be multi-stage"
    python_bases = [rest.split()[0] for stage in parsed for keyword, rest in stage[:1] if "python" in rest]
    assert python_bases and set(python_bases) == {"python:3.11-slim"}, python_bases

    build_steps = " ".join(rest for stage in parsed[:-1] for keyword, rest in stage if keyword == "RUN")
    sync = shlex.split(build_steps[build_steps.index("uv sync") :].split("&&")[0])
    assert {"--frozen", "--no-dev"} <= set(sync), sync
    assert sync[sync.index("--package") + 1] == f"plenary-{name}", sync

    final = parsed[-1]
    assert final[0][1].split()[0] == "python:3.11-slim", "the runtime stage must be python:3.11-slim"
    assert any(k == "COPY" and "--from=builder" in rest for k, rest in final), "runtime must copy the venv"
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the runtime stage must switch to a non-root user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "USER must be a numeric non-root uid (runAsNonRoot checks it)"
    # Nothing runs as root after the switch (a later RUN would bake writes into the image as root).
    after_user = final[[k for k, _ in final].index("USER") :]
    assert all(k != "RUN" for k, _ in after_user)

    healthcheck = " ".join(rest for keyword, rest in final if keyword == "HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :])
    assert command[0] == "python" and f"127.0.0.1:{port}/healthz" in " ".join(command), command
    cmd = [json.loads(rest) for keyword, rest in final if keyword == "CMD"][-1]
    assert cmd == ["uvicorn", f"{name}.app:app", "--host", "0.0.0.0", "--port", str(port)]
    assert str(port) in [rest for keyword, rest in final if keyword == "EXPOSE"]
    env_lines = " ".join(rest for keyword, rest in final if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env_lines and "HOME=/tmp" in env_lines

    # Everything the builder copies from the context must survive .dockerignore.
    for keyword, rest in (step for stage in parsed for step in stage):
        if keyword == "COPY" and "--from" not in rest:
            for source in rest.split()[:-1]:
                assert not dockerignored(source.rstrip("/")), f"{source} is excluded by .dockerignore"


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    for path in (".git", ".venv", ".plenary", "libs/plenary_kit/.venv", "tests", ".plenary/keys/jwt.pem"):
        assert dockerignored(path), f"{path} would be sent to the Docker daemon"
    for path in ("pyproject.toml", "uv.lock", "libs", "services", "tools"):
        assert not dockerignored(path), f"{path} is needed by the image builds"


# -------------------------------------------------------------------------------------- Prometheus
def test_prometheus_scrapes_every_service() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for name, port in PORTS.items():
        job = jobs.get(name)
        assert job is not None, f"prometheus.yml has no job for {name}"
        assert job.get("metrics_path", "/metrics") == "/metrics"
        targets = [target for group in job["static_configs"] for target in group["targets"]]
        assert targets == [f"{name}:{port}"], targets


def test_prometheus_alert_rules_are_well_formed() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    rule_files = config.get("rule_files", [])
    assert rule_files, "prometheus.yml loads no alert rules"
    known_metrics = exported_metric_names()
    for rule_file in rule_files:
        rules = yaml.safe_load((PROMETHEUS_DIR / rule_file.split()[0]).read_text())
        names = set()
        for group in rules["groups"]:
            for rule in group["rules"]:
                assert rule["alert"] not in names, f"duplicate alert {rule['alert']}"
                names.add(rule["alert"])
                assert rule["expr"].strip() and rule["labels"]["severity"] in {"critical", "warning", "info"}
                assert rule["annotations"]["summary"]
                if known_metrics:
                    for metric in set(re.findall(r"\bplenary_[a-z_]+", rule["expr"])):
                        base = re.sub(r"_(bucket|sum|count)$", "", metric)
                        assert base in known_metrics, f"{rule['alert']} uses {metric}, which no service exports"


def exported_metric_names() -> set[str]:
    """Metric names declared in plenary_kit.metrics (read as text; empty if the kit is not there yet)."""
    source = REPO / "libs" / "plenary_kit" / "plenary_kit" / "metrics.py"
    if not source.is_file():
        return set()
    return set(re.findall(r"""["'](plenary_[a-z_]+)["']""", source.read_text()))


# ----------------------------------------------------------------------------- Kubernetes: sources
def k8s_source_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.parametrize("path", k8s_source_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_k8s_source_manifests_validate(path: Path) -> None:
    errors = []
    for doc in load_all(path):
        if doc["kind"] in CRD_KINDS:
            continue
        errors += k8s_schema_errors(doc)
    assert errors == [], "\n".join(errors)


def test_no_private_key_is_committed() -> None:
    candidates = [COMPOSE_FILE, *K8S.rglob("*"), *PROMETHEUS_DIR.rglob("*"), *(REPO / "services").glob("*/Dockerfile")]
    for path in candidates:
        if path.is_file():
            text = path.read_text(errors="replace")
            assert "PRIVATE KEY-----" not in text, f"{path} contains a private key"
            assert "kind: Secret" not in text, f"{path} defines a Secret: create it with kubectl instead"


# ---------------------------------------------------------------------------- Kubernetes: rendered
def kustomize_version(binary: Path) -> str:
    if not binary.is_file():
        return ""
    result = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=30, check=False)
    return result.stdout.strip()


@pytest.fixture(scope="session")
def kustomize() -> Path:
    binary = KUSTOMIZE_BIN_DIR / "kustomize"
    if kustomize_version(binary) == KUSTOMIZE_VERSION:
        return binary
    go = shutil.which("go")
    if go is None:
        pytest.skip(
            "`go` is not installed, so kustomize cannot be built "
            f"(go install sigs.k8s.io/kustomize/kustomize/v5@{KUSTOMIZE_VERSION}); overlays not rendered"
        )
    KUSTOMIZE_BIN_DIR.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(KUSTOMIZE_BIN_DIR), "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    result = subprocess.run(
        [go, "install", f"sigs.k8s.io/kustomize/kustomize/v5@{KUSTOMIZE_VERSION}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert result.returncode == 0, f"go install of kustomize {KUSTOMIZE_VERSION} failed:\n{result.stderr}"
    assert kustomize_version(binary) == KUSTOMIZE_VERSION, kustomize_version(binary)
    return binary


@pytest.fixture(scope="session")
def rendered(kustomize: Path) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for overlay in OVERLAYS:
        result = subprocess.run(
            [str(kustomize), "build", str(K8S / "overlays" / overlay)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"kustomize build overlays/{overlay} failed:\n{result.stderr}"
        out[overlay] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


def objects(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def containers(deployment: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from deployment["spec"]["template"]["spec"]["containers"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_objects_validate_against_kubernetes_schemas(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    errors = []
    for doc in rendered[overlay]:
        if doc["kind"] not in CRD_KINDS:
            errors += k8s_schema_errors(doc)
    assert errors == [], "\n".join(errors)
    for doc in rendered[overlay]:
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == NAMESPACE
            assert doc["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        else:
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{doc['kind']}/{doc['metadata']['name']}"
    assert not objects(rendered[overlay], "Secret"), "Secrets are created out of band, never rendered"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_deployments_are_probed_limited_and_hardened(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    deployments = objects(docs, "Deployment")
    assert set(deployments) == set(PORTS)
    accounts = objects(docs, "ServiceAccount")
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        pod_security = pod.get("securityContext", {})
        assert pod["serviceAccountName"] == name and name in accounts
        assert pod.get("automountServiceAccountToken") is False
        volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
        for container in containers(deployment):
            where = f"{overlay}: {name}/{container['name']}"
            ports = {port.get("name"): port["containerPort"] for port in container["ports"]}
            assert PORTS[name] in ports.values(), where

            probes = {kind: container.get(kind) for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
            assert all(probes.values()), f"{where}: missing probe among {list(probes)}"
            assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz", where
            assert probes["startupProbe"]["httpGet"]["path"] == "/healthz", where
            assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz", where
            for probe in probes.values():
                port = probe["httpGet"]["port"]
                assert (ports.get(port) if isinstance(port, str) else port) == PORTS[name], where

            resources = container.get("resources", {})
            for section in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(section, {})), f"{where}: {section}"

            security = container.get("securityContext", {})
            assert security.get("allowPrivilegeEscalation") is False, where
            assert security.get("readOnlyRootFilesystem") is True, where
            assert security.get("capabilities", {}).get("drop") == ["ALL"], where
            assert security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is True, where
            seccomp = security.get("seccompProfile", pod_security.get("seccompProfile", {}))
            assert seccomp.get("type") == "RuntimeDefault", where

            mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
            assert "/tmp" in mounts and "emptyDir" in volumes[mounts["/tmp"]], f"{where}: /tmp emptyDir"

            image = container["image"]
            repository, _, tag = image.rpartition(":")
            assert repository == f"plenary/{name}" and tag and tag != "latest", f"{where}: image {image}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_services_reach_their_pods(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    docs = rendered[overlay]
    services, deployments = objects(docs, "Service"), objects(docs, "Deployment")
    for name, port in PORTS.items():
        service = services[name]
        pod_labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        selector = service["spec"]["selector"]
        assert selector.items() <= pod_labels.items(), f"Service {name} selects no pod of its Deployment"
        selector_match = deployments[name]["spec"]["selector"]["matchLabels"]
        assert selector_match.items() <= pod_labels.items()
        (service_port,) = service["spec"]["ports"]
        assert service_port["port"] == port and service_port["name"] == "http"
        container_ports = {p.get("name"): p["containerPort"] for c in containers(deployments[name]) for p in c["ports"]}
        target = service_port["targetPort"]
        assert (container_ports.get(target) if isinstance(target, str) else target) == port


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_config_and_secret_references(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    docs = rendered[overlay]
    config_maps = objects(docs, "ConfigMap")
    for name, deployment in objects(docs, "Deployment").items():
        for container in containers(deployment):
            refs = [item["configMapRef"]["name"] for item in container.get("envFrom", []) if "configMapRef" in item]
            for ref in refs:
                assert ref in config_maps, f"{name} reads ConfigMap {ref}, which is not rendered"
            settings: dict[str, str] = {}
            for ref in refs:
                settings.update(config_maps[ref]["data"])
            for key in COMMON_ENV:
                assert settings.get(key), f"{overlay}: {name} gets no {key} from its ConfigMaps"
            assert "kafka" in settings["KAFKA_BOOTSTRAP_SERVERS"]
            assert settings["MONGODB_URI"].startswith("mongodb")
            if name == "notifications":
                assert all(settings.get(key) for key in SMTP_ENV), f"{overlay}: SMTP settings"
                assert settings.get("PUBLIC_BASE_URL", "").startswith("http"), f"{overlay}: PUBLIC_BASE_URL"

            env = {item["name"]: item for item in container.get("env", [])}
            public = env["JWT_PUBLIC_KEY"]["valueFrom"]["secretKeyRef"]
            assert public == {"name": "plenary-jwt-public", "key": "public.pem"}
            if name == "registration":
                private = env["JWT_PRIVATE_KEY"]["valueFrom"]["secretKeyRef"]
                assert private == {"name": "plenary-jwt-private", "key": "private.pem"}
            else:
                assert "JWT_PRIVATE_KEY" not in env, f"{name} must not get the signing key"
            if name == "gateway":
                for upstream, port in UPSTREAMS.items():
                    assert env[f"SERVICE_URL_{upstream.upper()}"]["value"] == f"http://{upstream}:{port}"


def test_dev_overlay_runs_one_of_each_and_is_scraped_by_annotation(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = rendered["dev"]
    for name, deployment in objects(docs, "Deployment").items():
        assert deployment["spec"]["replicas"] == 1, name
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", name
        assert annotations.get("prometheus.io/path") == "/metrics", name
    assert not objects(docs, "HorizontalPodAutoscaler") and not objects(docs, "PodDisruptionBudget")


def test_prod_overlay_scales_and_survives_disruptions(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["prod"]
    deployments = objects(docs, "Deployment")

    hpas = objects(docs, "HorizontalPodAutoscaler")
    assert set(hpas) == {"gateway"}
    hpa = hpas["gateway"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway"}
    assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]
    # The HPA owns the count: a fixed one would be reset by every `kubectl apply`.
    assert "replicas" not in deployments["gateway"]["spec"]

    for name, deployment in deployments.items():
        if name == "gateway":
            continue
        # stats answers from its local faust tables: exactly one replica (see base/stats.yaml).
        expected_min = 1 if name == "stats" else 2
        assert deployment["spec"]["replicas"] >= expected_min, name

    budgets = objects(docs, "PodDisruptionBudget")
    assert set(budgets) == set(deployments), "one PodDisruptionBudget per service"
    for name, budget in budgets.items():
        pod_labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items(), name
        # A budget must allow a drain: maxUnavailable, or minAvailable below the replica count.
        if "minAvailable" in budget["spec"]:
            replicas = deployments[name]["spec"].get("replicas", hpa["minReplicas"])
            assert budget["spec"]["minAvailable"] < replicas, name
        else:
            assert budget["spec"]["maxUnavailable"] >= 1, name

    monitors = objects(docs, "ServiceMonitor")
    assert set(monitors) == {"plenary"}
    monitor = monitors["plenary"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selector = monitor["spec"]["selector"]["matchLabels"]
    endpoint_ports = {endpoint["port"] for endpoint in monitor["spec"]["endpoints"]}
    assert {endpoint.get("path", "/metrics") for endpoint in monitor["spec"]["endpoints"]} == {"/metrics"}
    for name, service in objects(docs, "Service").items():
        assert selector.items() <= service["metadata"]["labels"].items(), f"ServiceMonitor misses {name}"
        assert endpoint_ports <= {port["name"] for port in service["spec"]["ports"]}, name
