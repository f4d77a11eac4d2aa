"""The Prometheus alert rules of docker-compose (launch/compose/alerts.yml): valid for
promtool, each shown firing by promtool's own unit tests, on metrics the platform exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY, generate_latest

from core import metrics  # noqa: F401 - registers every metric

COMPOSE = Path(__file__).resolve().parents[2] / "launch" / "compose"


def promtool(*args: str) -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: `make test` installs Debian's prometheus package")
    done = subprocess.run([path, *args], cwd=COMPOSE, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def alerts() -> dict[str, str]:
    groups = yaml.safe_load((COMPOSE / "alerts.yml").read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def test_promtool_accepts_the_rules_and_their_tests_pass() -> None:
    assert "SUCCESS: 11 rules found" in promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in promtool("test", "rules", "alerts.test.yml")


def test_every_alert_is_tested_firing() -> None:
    tests = yaml.safe_load((COMPOSE / "alerts.test.yml").read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert fired == set(alerts())


def test_the_rules_read_metrics_the_platform_exports() -> None:
    exported = set(re.findall(r"^# TYPE (\w+) ", generate_latest(REGISTRY).decode(), re.M))
    exported |= {f"{name}_total" for name in exported}  # counters are read as …_total
    exported |= {f"{name}_bucket" for name in exported}  # histograms by their buckets
    used = {m for expr in alerts().values() for m in re.findall(r"\bflashcall_\w+", expr)}
    assert used, "the rules read flashcall's metrics"
    assert used <= exported, used - exported


def test_prometheus_loads_the_rules() -> None:
    config = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
