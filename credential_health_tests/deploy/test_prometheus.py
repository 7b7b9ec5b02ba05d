"""The shipped Prometheus rules and Grafana dashboard: promtool accepts them, their stories fire as written, and
every series they name is one a real scrape of `credential-health metrics serve` exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from credential_health_tests.fixtures.services import free_port, unavailable
from credential_health_tests.fixtures.windows import recent_windows

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "credential_health.json"
OPERATIONS = ROOT / "docs" / "operations.md"
SERIES = re.compile(r"\b((?:credential_health|webhook)_[a-z0-9_]+)\b")


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        unavailable("promtool is not installed (Debian package `prometheus`)")
    return found


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"] for target in panel["targets"]]


def test_rules_pass_promtool_check_and_their_unit_tests(promtool):
    subprocess.run([promtool, "check", "rules", str(ALERTS)], check=True, capture_output=True)
    run = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"], cwd=ALERTS.parent, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    tested = set(re.findall(r"alertname: (\w+)", (ALERTS.parent / "alerts_test.yml").read_text()))
    assert tested == {rule["alert"] for rule in alert_rules()}  # every alert has a story


def test_dashboard_expressions_are_valid_promql(promtool, tmp_path):
    """promtool parses each panel's query when it is written as a recording rule."""
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:panel_{i}", "expr": expr} for i, expr in enumerate(dashboard_exprs())],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    run = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_alert_links_to_a_runbook_entry():
    headings = {
        re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", OPERATIONS.read_text(), flags=re.MULTILINE)
    }
    for rule in alert_rules():
        path, anchor = rule["annotations"]["runbook_url"].split("#")
        assert path == "docs/operations.md" and anchor in headings, rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning") and "for" in rule


def _serve(env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "credential_health.cli", "metrics", "serve", "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            return server, requests.get(url, timeout=5).text
        except requests.ConnectionError:
            time.sleep(0.2)
    server.kill()
    pytest.fail(f"the exporter did not serve {url}: {server.communicate()[1][-2000:]}")


def test_a_real_scrape_after_a_pipeline_run_passes_promtool_check_metrics(promtool, pipeline):
    pipeline.add("acme", "binance")
    pipeline.add("acme", "kraken", behaviour="revoked")
    pipeline.add("globex", "binance", behaviour="permission_denied")
    assert pipeline.materialize(recent_windows(1)[0]).success
    server, body = _serve({**pipeline.env, "CREDENTIAL_HEALTH_METRICS_TENANT_LABEL": "true"})
    server.terminate()
    server.wait(10)
    run = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    # declared families (a family with no rows yet, e.g. no delivery in the last hour, is still declared)
    exported = {
        name
        for family in text_string_to_metric_families(body)
        for name in (family.name, *(s.name for s in family.samples))
    }
    named = {name for expr in [r["expr"] for r in alert_rules()] + dashboard_exprs() for name in SERIES.findall(expr)}
    assert named and named <= exported, named - exported
    states = {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        if family.name == "credential_health_credentials"
        for s in family.samples
    }
    assert states == {
        (("error_code", "ok"), ("exchange", "binance"), ("status", "valid"), ("tenant_id", "acme")): 1,
        (("error_code", "auth_rejected"), ("exchange", "kraken"), ("status", "invalid"), ("tenant_id", "acme")): 1,
        (
            ("error_code", "permission_denied"),
            ("exchange", "binance"),
            ("status", "invalid"),
            ("tenant_id", "globex"),
        ): 1,
    }
