"""The Kubernetes executor is configuration only: `dagster definitions validate` loads the code location with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def validate(home: Path, executor: str, **extra: str) -> subprocess.CompletedProcess:
    # An empty Dagster home: the repository's production dagster.yaml needs a PostgreSQL server.
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "VAULT_ADDR": "http://127.0.0.1:8200",
        "CREDENTIAL_HEALTH_EXECUTOR": executor,
        **extra,
    }
    return subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-m", "credential_health.definitions"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_k8s_executor_validates_with_its_egress_pools(tmp_path):
    done = validate(tmp_path, "k8s", CREDENTIAL_HEALTH_SHARDS="8", CREDENTIAL_HEALTH_EGRESS_POOLS="ip-a,ip-b")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr


def test_k8s_executor_is_chosen_and_shards_carry_their_pool():
    code = (
        "from credential_health.definitions import defs; job = defs.resolve_job_def('credential_health_job');"
        "print(job.executor_def.name);"
        "graph = defs.resolve_assets_def('credential_validation_results').node_def;"
        "print(sorted((n.definition.name, n.definition.pool, n.definition.tags.get('dagster-celery/queue'))"
        " for n in graph.nodes if n.definition.name.startswith('validate_shard')))"
    )
    env = {
        **os.environ,
        "VAULT_ADDR": "http://127.0.0.1:8200",
        "CREDENTIAL_HEALTH_EXECUTOR": "k8s",
        "CREDENTIAL_HEALTH_EGRESS_POOLS": "ip-a,ip-b",
    }
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    name, shards = done.stdout.strip().splitlines()
    assert name == "k8s"
    assert shards == str(
        [
            ("validate_shard_ip_a", "credential_health_egress_ip-a", "ip-a"),
            ("validate_shard_ip_b", "credential_health_egress_ip-b", "ip-b"),
        ]
    )


def test_an_unknown_executor_is_refused_by_name(tmp_path):
    done = validate(tmp_path, "threads")
    assert done.returncode != 0
    assert "CREDENTIAL_HEALTH_EXECUTOR must be one of in_process, celery, k8s" in done.stdout + done.stderr


def test_the_helm_values_name_the_pools_the_definitions_use():
    values = yaml.safe_load((ROOT / "deploy" / "k8s" / "values.yaml").read_text())
    [location] = values["dagster-user-deployments"]["deployments"]
    env = {e["name"]: e.get("value") for e in location["env"]}
    assert env["CREDENTIAL_HEALTH_EXECUTOR"] == "k8s"
    assert location["dagsterApiGrpcArgs"] == ["-m", "credential_health.definitions"]
    assert values["dagsterDaemon"]["runCoordinator"]["enabled"] is True
