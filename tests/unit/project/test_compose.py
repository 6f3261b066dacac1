"""docker-compose.yml and the Dockerfile, checked offline (no Docker engine runs here).

The Compose file is validated against the Compose specification's JSON schema
(the copy check-jsonschema vendors) and read for what a deployment relies on:
the four services and their commands, Redis persistence and health, Flower's
basic auth, every setting passed through, and no secret written in the file.
"""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
INTERPOLATION = re.compile(r"^\$\{(?P<name>[A-Z_]+)(?::?[-?+](?P<rest>.*))?\}$")


def load_compose() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(YAML(typ="safe").load(COMPOSE.read_text())))
    return data


def compose_schema() -> dict[str, Any]:
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema: dict[str, Any] = json.loads(vendored.read_text(encoding="utf-8"))
    return schema


def schema_errors(document: dict[str, Any]) -> list[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def variables_read_by_settings() -> set[str]:
    source = (ROOT / "worker" / "settings.py").read_text()
    return set(re.findall(r'read\(\s*"([A-Z_]+)"', source)) | {"MODELSLAB_API_KEY"}


def test_the_file_validates_against_the_compose_specification() -> None:
    assert schema_errors(load_compose()) == []


def test_the_schema_check_rejects_a_broken_file() -> None:
    broken = copy.deepcopy(load_compose())
    broken["services"]["worker"]["restart"] = ["always"]
    broken["services"]["flower"]["not_a_compose_key"] = True

    errors = schema_errors(broken)

    assert any("restart" in e for e in errors), errors
    assert any("not_a_compose_key" in e for e in errors), errors


def test_services_run_the_documented_commands() -> None:
    services = load_compose()["services"]

    assert {"redis", "worker", "beat", "flower"} <= set(services)
    assert services["worker"]["command"][:4] == ["celery", "-A", "worker", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "worker", "beat"]
    assert services["flower"]["command"][:4] == ["celery", "-A", "worker", "flower"]
    assert services["simulator"]["command"][:2] == ["reloadctl", "sim"]
    assert services["simulator"]["profiles"] == ["sim"]
    for name in ("worker", "beat", "flower"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_redis_persists_with_append_only_and_has_a_healthcheck() -> None:
    redis = load_compose()["services"]["redis"]

    assert redis["command"][0] == "redis-server"
    assert "--appendonly" in redis["command"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_flower_requires_basic_auth_from_the_environment() -> None:
    value = load_compose()["services"]["flower"]["environment"]["FLOWER_BASIC_AUTH"]

    match = INTERPOLATION.match(value)
    assert match is not None and match["name"] == "FLOWER_BASIC_AUTH", value
    assert ":?" in value, "compose must refuse to start Flower without credentials"


def test_every_setting_reaches_the_services_and_empty_means_default() -> None:
    services = load_compose()["services"]
    expected = variables_read_by_settings() - {"MODELSLAB_API_KEY", "MODELSLAB_BASE_URL"}

    for name in ("worker", "beat", "flower"):
        assert expected <= set(services[name]["environment"]), name
    assert {"MODELSLAB_API_KEY", "MODELSLAB_BASE_URL"} <= set(services["worker"]["environment"])
    # "${X:-}" hands an empty value to the container when X is unset: the code's default.
    empty = dict.fromkeys(expected - {"REDIS_URL"}, "")
    assert Settings.from_env(empty) == Settings.from_env({})


@pytest.mark.parametrize("service", ["redis", "worker", "beat", "flower", "simulator"])
def test_no_api_key_is_written_in_the_file(service: str) -> None:
    config = load_compose()["services"][service]
    environment = config.get("environment", {})

    if service == "worker":
        match = INTERPOLATION.match(environment["MODELSLAB_API_KEY"])
        assert match is not None and match["name"] == "MODELSLAB_API_KEY"
    else:
        assert "MODELSLAB_API_KEY" not in environment, "only workers hold the key"
    for value in environment.values():
        assert INTERPOLATION.match(value) or not re.search(r"key|secret|password", value, re.I)
    for word in config.get("command", []):
        if word.startswith("--key"):
            assert word.split("=", 1)[1].startswith("${MODELSLAB_API_KEY"), word


def test_the_image_installs_the_package_and_runs_as_a_non_root_user() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]

    assert lines[0] == "FROM python:3.11-slim AS production"
    assert any(line.startswith("RUN pip install . ") for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
    production = lines[: lines.index("FROM production AS sandbox")]
    assert users[0] not in {"root", "0"} and f"USER {users[0]}" in production
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".venv" in ignored and ".git" in ignored


def test_the_production_image_leaves_out_the_sandbox() -> None:
    """Given the Dockerfile's two stages, the production one never sees the sandbox package or
    its extra; only the simulator's service builds the sandbox stage."""
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    split = lines.index("FROM production AS sandbox")
    production, sandbox = lines[:split], lines[split:]

    assert not any("sandbox" in line for line in production if not line.startswith("#"))
    assert "COPY sandbox ./sandbox" in sandbox
    assert any(line.startswith("RUN pip install '.[sandbox]'") for line in sandbox)
    services = load_compose()["services"]
    assert services["worker"]["build"]["target"] == "production"
    assert services["simulator"]["build"]["target"] == "sandbox"


def test_the_dashboard_service_runs_reloadctl_dashboard_with_auth_and_no_key() -> None:
    services = load_compose()["services"]
    dashboard = services["dashboard"]

    assert dashboard["command"][:2] == ["reloadctl", "dashboard"]
    assert "--host=0.0.0.0" in dashboard["command"]
    assert dashboard["depends_on"]["redis"]["condition"] == "service_healthy"
    auth = INTERPOLATION.match(dashboard["environment"]["RELOAD_DASHBOARD_AUTH"])
    assert auth is not None and auth["name"] == "RELOAD_DASHBOARD_AUTH"
    assert ":?" in dashboard["environment"]["RELOAD_DASHBOARD_AUTH"]
    assert "MODELSLAB_API_KEY" not in dashboard["environment"], "only workers hold the key"
    # The same settings as Flower (the shared anchor), its own auth instead of Flower's.
    assert set(services["flower"]["environment"]) - {"FLOWER_BASIC_AUTH"} <= set(
        dashboard["environment"]
    )
    assert any(port.endswith(":8080") for port in dashboard["ports"])


def test_flower_uses_the_projects_flowerconfig_copied_into_the_image() -> None:
    flower = load_compose()["services"]["flower"]
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]

    assert "--conf=/app/flowerconfig.py" in flower["command"]
    production = lines[: lines.index("FROM production AS sandbox")]
    assert "COPY flowerconfig.py ./" in production
    assert (ROOT / "flowerconfig.py").exists()
