"""docker-compose.yml cannot run here; this checks it against the code it starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from core.settings import Settings
from processors.faust_app import ROLES

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("api", "processors", "dialer")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def setting_names() -> set[str]:
    return {field.alias for field in Settings.model_fields.values() if field.alias}


def test_every_service_is_healthchecked_or_waits_for_healthy_dependencies() -> None:
    services = compose()["services"]
    assert {"kafka", "postgres", *APP_SERVICES} <= set(services)
    for name in ("kafka", "postgres", "api"):
        assert "healthcheck" in services[name], name
    for name in APP_SERVICES:
        depends = services[name]["depends_on"]
        assert depends == {
            "kafka": {"condition": "service_healthy"},
            "postgres": {"condition": "service_healthy"},
        }


def test_environment_names_are_settings() -> None:
    known = setting_names()
    for name in APP_SERVICES:
        env = compose()["services"][name]["environment"]
        unknown = set(env) - known
        assert not unknown, (name, unknown)
        assert {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "FLASHCALL_ADMIN_TOKEN"} <= set(env)
        assert env["FLASHCALL_ENV"] == "production"


def test_processor_services_cover_every_role() -> None:
    services = compose()["services"]
    roles = set()
    for name in ("processors", "dialer", "ingress"):
        roles |= set(services[name]["environment"]["FLASHCALL_PROCESSOR_ROLES"].split(","))
    assert roles == set(ROLES)


def test_kafka_runs_in_kraft_mode() -> None:
    env = compose()["services"]["kafka"]["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"] and "ZOOKEEPER" not in str(env).upper()


def test_every_service_is_started_again_when_it_exits() -> None:
    for name, service in compose()["services"].items():
        assert service.get("restart") == "unless-stopped", name
