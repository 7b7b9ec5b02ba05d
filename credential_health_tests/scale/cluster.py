"""A real fan-out deployment for tests: a PostgreSQL Dagster instance, Redis-backed Celery workers (each bound
to its own loopback egress address) and `dagster job execute` as the orchestrating process."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis
from dagster import DagsterEventType, DagsterInstance, EventRecordsFilter

from credential_health_tests.fixtures.services import throwaway_database, unavailable

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REDIS_URL = os.environ.get("CREDENTIAL_HEALTH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
INSTANCE_YAML = """storage:
  postgres:
    postgres_url: {url}
concurrency:
  pools:
    granularity: op
    default_limit: 1
telemetry:
  enabled: false
"""


def require_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at {REDIS_URL} is not reachable: {exc}")


@dataclass
class Cluster:
    """One isolated deployment: own Dagster home and database, own Celery queues (a random prefix)."""

    home: Path
    env: dict[str, str]
    pools: tuple[str, ...]
    drop_database: Callable[[], None]
    workers: list[subprocess.Popen] = field(default_factory=list)

    def start_worker(self, pool: str, egress_address: str, name: str) -> subprocess.Popen:
        """A real `dagster-celery` worker (one task at a time) on its pool's queue (and the other steps' queue)."""
        config = self.home / f"celery-{name}.yaml"
        env = {**self.env, "CREDENTIAL_HEALTH_EGRESS_ADDRESS": egress_address}
        config.write_text(
            subprocess.run(
                [sys.executable, "-m", "credential_health.executors"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        log = open(self.home / f"worker-{name}.log", "w")  # noqa: SIM115 - closed with the process
        worker = subprocess.Popen(
            [
                str(BIN / "dagster-celery"),
                "worker",
                "start",
                "-A",
                "dagster_celery.app",
                "-y",
                str(config),
                # one -q with both: celery keeps only the last of several -Q options
                "-q",
                f"{pool},{self.env['CREDENTIAL_HEALTH_CELERY_QUEUE']}",
                "-n",
                f"{name}-{secrets.token_hex(3)}",
                "--",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(worker)
        deadline = time.monotonic() + 120
        while "ready." not in (self.home / f"worker-{name}.log").read_text():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker {name} did not start: {(self.home / f'worker-{name}.log').read_text()}")
            time.sleep(0.2)
        return worker

    def log(self, name: str) -> str:
        return (self.home / f"worker-{name}.log").read_text()

    def execute(self, window: str, timeout: float = 900) -> subprocess.CompletedProcess:
        """The window's run, orchestrated by a `dagster job execute` process (steps go to the workers)."""
        return subprocess.run(
            [
                str(BIN / "dagster"),
                "job",
                "execute",
                "-m",
                "credential_health.definitions",
                "-j",
                "credential_health_job",
                "--tags",
                json.dumps({"dagster/partition": window}),
            ],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def instance(self) -> DagsterInstance:
        return DagsterInstance.from_config(str(self.home))

    def step_events(self, instance: DagsterInstance, event_type: DagsterEventType) -> list:
        return [r.event_log_entry for r in instance.get_event_records(EventRecordsFilter(event_type=event_type))]

    def stop(self) -> None:
        for worker in self.workers:
            stop_session(worker)


def stop_session(process: subprocess.Popen) -> None:
    """Warm-stop a worker's session (dagster-celery, celery and its pool children), then kill what is left."""
    session = process.pid
    try:
        os.killpg(session, signal.SIGTERM)
        process.wait(30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    for leftover in [p for p in psutil.process_iter() if _session(p) == session]:
        leftover.kill()
    if process.poll() is None:
        process.kill()
        process.wait(10)


def _session(process: psutil.Process) -> int | None:
    try:
        return os.getsid(process.pid)
    except (ProcessLookupError, PermissionError):
        return None


def pool_children(worker: subprocess.Popen) -> list[psutil.Process]:
    """The Celery pool processes (the ones running tasks) under a worker's session."""
    celery = [p for p in psutil.Process(worker.pid).children(recursive=True) if "celery" in " ".join(p.cmdline())]
    return [p for p in celery if p.parent() and p.parent().pid in {c.pid for c in celery}]


def make_cluster(tmp_path: Path, base_env: dict[str, str], pool_names: tuple[str, ...], shards: int) -> Cluster:
    """A Dagster home on a fresh PostgreSQL database; queues named with a random prefix (no other test's)."""
    require_redis()
    url, drop = throwaway_database("ch_dagster")
    home = tmp_path / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(INSTANCE_YAML.format(url=url))
    prefix = f"t{secrets.token_hex(4)}"
    pools = tuple(f"{prefix}-{name}" for name in pool_names)
    env = {
        **os.environ,
        **base_env,
        "DAGSTER_HOME": str(home),
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "CREDENTIAL_HEALTH_EXECUTOR": "celery",
        "CREDENTIAL_HEALTH_CELERY_BROKER": REDIS_URL,
        "CREDENTIAL_HEALTH_CELERY_QUEUE": f"{prefix}-steps",
        "CREDENTIAL_HEALTH_EGRESS_POOLS": ",".join(pools),
        "CREDENTIAL_HEALTH_SHARDS": str(shards),
    }
    DagsterInstance.from_config(str(home)).dispose()  # create the storage once, before processes race to
    return Cluster(home, env, pools, drop)
