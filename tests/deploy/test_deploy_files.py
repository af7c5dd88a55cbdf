"""The deployment files (Dockerfile, docker-compose.yml, deploy/) checked without Docker or Helm.

CI has neither Docker nor Helm (and no official Helm package is on the registries we reach), so
these are static checks: every YAML file parses, every environment variable named is one the
settings read (or a documented one of another program), every `.Values` path a template uses
exists, and the commands equal the Procfile's.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "webcap"
TEMPLATES = CHART / "templates"

# The webcap services of docker-compose.yml: they run the image, with the settings' variables.
WEBCAP_SERVICES = ("migrate", "web", "web2", "worker", "beat")
# Variables of other programs: the Procfile's PORT, the postgres and grafana images', boto3's.
EXTERNAL = re.compile(
    r"^(PORT|POSTGRES_[A-Z_]+|GF_[A-Z0-9_]+|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY)$"
)
# The chart's S3 switch sets django-storages' names; the artifact storage settings read them.
S3_SETTINGS = {"AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL", "AWS_S3_REGION_NAME"}
VAR_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def _settings_read() -> set[str]:
    """Return the environment variables config/settings/base.py reads (tests/config's regex)."""
    source = (ROOT / "config" / "settings" / "base.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_][A-Z0-9_]*)"', source))
    assert read, "no env reads found; the pattern is out of date"
    return read


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _values() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return data


def _templates() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(TEMPLATES.iterdir())}


def _shell_command(command: list[str] | str, *, compose: bool) -> str:
    """Return the line a ["sh", "-c", "exec LINE"] command runs (compose's $$ unescaped)."""
    assert isinstance(command, list), command
    assert command[:2] == ["sh", "-c"], command
    line = command[2].replace("$$", "$") if compose else command[2]
    assert line.startswith("exec "), line
    return line.removeprefix("exec ")


def _template_command(text: str) -> str:
    match = re.search(r"^\s*command: (\[.*\])$", text, re.M)
    assert match, "no command"
    command: list[str] = yaml.safe_load(match.group(1))
    return _shell_command(command, compose=False)


def test_every_yaml_file_parses():
    plain = [ROOT / "docker-compose.yml", CHART / "Chart.yaml", CHART / "values.yaml"]
    plain += [p for p in DEPLOY.rglob("*.y*ml") if TEMPLATES not in p.parents]
    for path in sorted(set(plain)):
        assert isinstance(yaml.safe_load(path.read_text()), dict), path
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert (chart["apiVersion"], chart["name"], chart["type"]) == ("v2", "webcap", "application")


def test_compose_environment_names_are_read_by_settings():
    read = _settings_read()
    services = _compose()["services"]
    for name in WEBCAP_SERVICES:
        unknown = set(services[name]["environment"]) - read
        assert not unknown, f"{name}: not read by config/settings/base.py: {sorted(unknown)}"
    for name in ("postgres", "grafana"):
        assert all(EXTERNAL.match(var) for var in services[name]["environment"]), name
    # Variables compose itself substitutes from the shell or a .env file.
    text = (ROOT / "docker-compose.yml").read_text().replace("$$", "")
    substituted = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    unknown = {var for var in substituted - read if not EXTERNAL.match(var)}
    assert not unknown, unknown


def test_compose_requires_a_secret_key_and_binds_only_loopback():
    services = _compose()["services"]
    env = services["web"]["environment"]
    assert env["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["DATABASE_URL"].startswith("postgres://")
    assert "@postgres:5432/" in env["DATABASE_URL"]
    published = {name: service["ports"] for name, service in services.items() if "ports" in service}
    assert set(published) == {"web", "web2", "prometheus", "grafana"}
    for name, ports in published.items():
        for port in ports:
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_compose_topology():
    services = _compose()["services"]
    assert set(services) == {*WEBCAP_SERVICES, "postgres", "redis", "prometheus", "grafana"}
    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    assert services["redis"]["command"] == ["redis-server", "--appendonly", "yes"]
    for name in ("postgres", "redis"):
        assert "healthcheck" in services[name], name
        assert services[name]["volumes"], name
    # Every process waits for the release step, which waits for healthy servers.
    for name in ("web", "web2", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["postgres"] == {"condition": "service_healthy"}, name
    assert services["migrate"]["restart"] == "no"
    assert set(services["migrate"]["depends_on"]) == {"postgres", "redis"}
    # Web and worker share the artifact folder.
    assert services["web"]["volumes"] == services["worker"]["volumes"]


def test_commands_equal_the_procfile():
    procfile = _procfile()
    services = _compose()["services"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M)
    assert cmd, "no exec-form CMD"
    assert _shell_command(yaml.safe_load(cmd.group(1)), compose=False) == procfile["web"]
    # The web services run the image's default command.
    assert "command" not in services["web"]
    assert "command" not in services["web2"]
    assert _shell_command(services["worker"]["command"], compose=True) == procfile["worker"]
    assert _shell_command(services["migrate"]["command"], compose=True) == procfile["release"]
    # beat adds only where its schedule file goes (the writable var folder).
    beat = _shell_command(services["beat"]["command"], compose=True)
    assert beat == procfile["beat"] + " --schedule /app/var/celerybeat-schedule"
    templates = _templates()
    assert not re.search(r"^\s*command:", templates["web-deployment.yaml"], re.M)
    assert _template_command(templates["worker-deployment.yaml"]) == procfile["worker"]
    assert _template_command(templates["migrate-job.yaml"]) == procfile["release"]
    assert _template_command(templates["beat-deployment.yaml"]) == beat


def test_dockerfile_installs_hash_locked_and_runs_as_non_root():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    # The base image's bundled pip is brought to the pinned one before the locked install.
    bootstrap = text.index("pip install --require-hashes --no-deps -r requirements/bootstrap.txt")
    assert bootstrap < text.index("pip install --require-hashes -r requirements/base.txt")
    assert "collectstatic --noinput" in text
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert users[-1] == "10001:10001"
    assert _values()["podSecurityContext"]["runAsUser"] == 10001
    assert re.search(r"^HEALTHCHECK .*\n.*/health", text, re.M)
    # STATIC_ROOT is under WEBCAP_VAR_DIR, which the image sets.
    assert "STATIC_ROOT = VAR_DIR" in (ROOT / "config" / "settings" / "base.py").read_text()
    assert "WEBCAP_VAR_DIR=/app/var" in text
    assert set(re.findall(r"^\s+(\w+)=", text, re.M)) <= _settings_read() | {
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
        "PIP_NO_CACHE_DIR",
        "PIP_DISABLE_PIP_VERSION_CHECK",
        "PORT",
    }
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {".git", ".venv", ".env", "var"} <= set(ignored)


def _chart_env_names() -> set[str]:
    """Return every environment variable the chart sets: values' config and secrets, templates."""
    values = _values()
    names = set(values["config"]) | set(values["secrets"])
    for text in _templates().values():
        names |= set(re.findall(r"^\s+([A-Z_][A-Z0-9_]*): ", text, re.M))
        names |= set(re.findall(r"^\s+- name: ([A-Z_][A-Z0-9_]*)$", text, re.M))
        names |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    return names


def test_chart_environment_names_are_read_by_settings():
    names = _chart_env_names()
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PORT"} <= names
    unknown = {n for n in names - _settings_read() if not EXTERNAL.match(n)}
    assert not unknown, f"not read by config/settings/base.py: {sorted(unknown)}"


def test_chart_s3_settings_are_read_by_settings():
    assert _chart_env_names() >= S3_SETTINGS
    missing = S3_SETTINGS - _settings_read()
    assert not missing, f"the chart's S3 switch sets names settings do not read: {missing}"


def _has_path(values: dict[str, Any], path: list[str]) -> bool:
    node: Any = values
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def test_every_values_path_in_the_templates_exists():
    values = _values()
    used: set[str] = set()
    for name, text in _templates().items():
        for path in re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text):
            used.add(path)
            assert _has_path(values, path.split(".")[1:]), f"{name}: .Values{path}"
        # hpa.yaml walks web and worker with `$values := index $.Values $component`.
        for path in re.findall(r"\$values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text):
            for component in ("web", "worker"):
                assert _has_path(values[component], path.split(".")[1:]), (name, path)
    assert len(used) > 40, "the .Values pattern is out of date"


def test_chart_shape():
    templates = _templates()
    values = _values()
    kinds = {name: re.findall(r"^kind: (\w+)$", text, re.M) for name, text in templates.items()}
    assert kinds["web-deployment.yaml"] == ["Deployment"]
    assert kinds["worker-deployment.yaml"] == ["Deployment"]
    assert kinds["beat-deployment.yaml"] == ["Deployment"]
    assert kinds["web-service.yaml"] == ["Service"]
    assert kinds["migrate-job.yaml"] == ["Job"]
    assert kinds["hpa.yaml"] == ["HorizontalPodAutoscaler"]
    assert kinds["pvc.yaml"] == ["PersistentVolumeClaim"]
    assert kinds["ingress.yaml"] == ["Ingress"]
    assert kinds["configmap.yaml"] == ["ConfigMap"]
    assert kinds["secret.yaml"] == ["Secret"]
    # The release step is a hook that runs before install and upgrade.
    assert '"helm.sh/hook": pre-install,pre-upgrade' in templates["migrate-job.yaml"]
    # One beat, whatever the values say.
    assert re.search(r"^  replicas: 1$", templates["beat-deployment.yaml"], re.M)
    assert (values["web"]["livenessPath"], values["web"]["readinessPath"]) == (
        "/health/live",
        "/health/ready",
    )
    assert values["artifacts"]["storage"] in {"pvc", "s3"}
    assert values["podSecurityContext"]["runAsNonRoot"] is True
    assert values["securityContext"]["allowPrivilegeEscalation"] is False
    assert values["ingress"]["enabled"] is False
    for component in ("web", "worker", "beat", "migrate"):
        resources = values[component]["resources"]
        assert set(resources) == {"requests", "limits"}, component
    # Secrets never default to a value.
    assert all(value == "" for value in values["secrets"].values())
    # Template actions balance: every if/range/with/define has its end.
    for name, text in templates.items():
        opened = len(re.findall(r"\{\{-?\s*(?:if|range|with|define)\b", text))
        closed = len(re.findall(r"\{\{-?\s*end\s*-?\}\}", text))
        assert opened == closed, name


def test_prometheus_scrapes_the_web_processes_and_the_worker_and_grafana_reads_it():
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    web, worker = prometheus["scrape_configs"]
    assert web["metrics_path"] == worker["metrics_path"] == "/metrics"
    assert web["static_configs"][0]["targets"] == ["web:8000", "web2:8000"]
    port = _compose()["services"]["worker"]["environment"]["METRICS_WORKER_PORT"]
    assert worker["static_configs"][0]["targets"] == [f"worker:{port}"]
    datasources = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    (source,) = yaml.safe_load(datasources.read_text())["datasources"]
    assert (source["type"], source["url"]) == ("prometheus", "http://prometheus:9090")
    volumes = _compose()["services"]["prometheus"]["volumes"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in volumes


@pytest.mark.parametrize("service", ["web", "worker"])
def test_compose_web_and_worker_parse_as_commands(service):
    # shlex: the command line is a valid shell line (no stray quotes).
    command = _compose()["services"][service].get("command", ["sh", "-c", "exec true"])
    assert shlex.split(command[2])
