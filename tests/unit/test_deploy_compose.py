"""The laptop stack (deploy/compose), checked statically since no Docker engine runs here: every service is built
from services/Dockerfile with its own name and port, migrated by a one-shot container before it starts, configured
as the settings loader expects, and scraped by a Prometheus whose configuration promtool accepts.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from gridlink.devstack import DEFAULT_PORTS, SERVICES
from gridlink.runtime.config import REPO_ROOT, load_settings
from tests.tools import promtool

COMPOSE = REPO_ROOT / "deploy" / "compose"


@pytest.fixture(scope="module")
def stack() -> dict:
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text())["services"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_built_migrated_then_run(stack, service):
    migrate, run = stack[f"{service}-migrate"], stack[service]
    build = migrate["build"]
    assert (COMPOSE / build["context"]).resolve() == REPO_ROOT
    assert (COMPOSE / build["context"] / build["dockerfile"]).resolve() == REPO_ROOT / "services" / "Dockerfile"
    # Strings, as the builder takes them: an unquoted port would be a YAML number.
    assert build["args"] == {"SERVICE": service, "HTTP_PORT": str(DEFAULT_PORTS[service])}
    assert migrate["command"] == ["python", "-m", service, "migrate"]
    assert run["command"] == ["python", "-m", service, "run"]
    assert run["image"] == migrate["image"]
    assert run["depends_on"][f"{service}-migrate"] == {"condition": "service_completed_successfully"}
    assert run["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}
    assert migrate["environment"]["DATABASE_URL"] == run["environment"]["DATABASE_URL"]
    assert run["ports"] == [f"{DEFAULT_PORTS[service]}:{DEFAULT_PORTS[service]}"]
    assert run["read_only"] is True


@pytest.mark.parametrize("service", SERVICES)
def test_service_environment_means_what_it_should(stack, service):
    settings = load_settings(
        service, DEFAULT_PORTS[service], {k: str(v) for k, v in stack[service]["environment"].items()}
    )
    assert settings.http_host == "0.0.0.0" and settings.http_port == DEFAULT_PORTS[service]
    assert settings.database_url == f"postgresql://postgres:postgres@postgres:5432/gridlink_{service}"
    assert settings.amqp_uri.startswith("amqp://guest:guest@rabbitmq:5672/")
    assert f"CREATE DATABASE gridlink_{service};" in (COMPOSE / "postgres-init.sql").read_text()


def test_broker_defaults_to_quorum_queues_and_exposes_metrics(stack):
    assert "default_queue_type = quorum" in (COMPOSE / "rabbitmq.conf").read_text()
    assert "rabbitmq_prometheus" in (COMPOSE / "rabbitmq-plugins").read_text()


def test_every_mounted_file_exists(stack):
    for name, spec in stack.items():
        for volume in spec.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert (COMPOSE / source).exists(), f"{name}: {source}"


def test_prometheus_scrapes_every_service_and_promtool_accepts_it():
    config = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert {f"{s}:{p}" for s, p in DEFAULT_PORTS.items()} <= targets
    checked = subprocess.run(
        [promtool(), "check", "config", str(COMPOSE / "prometheus.yml")], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
