"""The demo: seed, run credential_health_job for four windows, let the sensor launch notify runs, summarise."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import requests
import sqlalchemy as sa

from credential_health.demo.mix import DEMO_EGRESS, demo_credentials, simulator_keys, simulator_scopes
from credential_health.demo.services import Services
from credential_health.models import EventType

WINDOWS = 4
ROOT = Path.cwd()
# Runs still record every event in the instance (the UI shows them); the terminal shows progress only.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def say(message: str, started: float) -> None:
    print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)


def prepare_home(fresh_results: bool = True) -> Path:
    """A persistent SQLite Dagster home, so `make ui` later shows the same runs (and results)."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(ROOT / ".dagster_home"))).resolve()
    os.environ["DAGSTER_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copy(ROOT / "deploy" / "embedded" / "dagster.yaml", config)
    results = home / "credential_health.db"
    for stale in home.glob("credential_health.db*") if fresh_results else ():  # each demo starts afresh
        stale.unlink()
    os.environ["CREDENTIAL_HEALTH_DATABASE_URL"] = f"sqlite:///{results}"
    return home


def configure(services: Services) -> None:
    os.environ.update(
        {
            "VAULT_ADDR": services.vault_addr,
            "VAULT_TOKEN": services.vault_token,
            "CREDENTIAL_HEALTH_EXCHANGE_URLS": json.dumps(
                {"binance": f"{services.simulator_url}/binance", "kraken": f"{services.simulator_url}/kraken"}
            ),
            "CREDENTIAL_HEALTH_EXCHANGE_RATE_LIMIT": "100",
            "CREDENTIAL_HEALTH_CHECK_RETRY_DELAY_SECONDS": "0.2",
            "CREDENTIAL_HEALTH_CHECK_TIMEOUT_SECONDS": "2",
            "WEBHOOK_ALLOW_PRIVATE_URLS": "true",  # the receiver is on loopback
            # The demo replays the last windows within a minute, as if each had run on time (not as a backfill).
            "CREDENTIAL_HEALTH_LATE_AFTER_WINDOWS": str(WINDOWS + 1),
            "CREDENTIAL_HEALTH_PUBLISHED_EGRESS_ADDRESSES": DEMO_EGRESS,  # the scope audit checks allowlists for it
        }
    )


def seed(services: Services, credentials) -> dict[str, str]:
    """Vault secrets, simulator keys, and one webhook endpoint per tenant (secrets go to the receiver)."""
    seed_credentials(services, credentials)
    return seed_endpoints(services, sorted({c.tenant_id for c in credentials}))


def seed_credentials(services: Services, credentials) -> None:
    """The tenants' exchange keys, in Vault and as the simulated exchanges know them."""
    from credential_health.settings import Settings
    from credential_health.vault import paths as vault_paths
    from credential_health.vault.client import VaultClient

    settings = Settings.from_env()
    vault = VaultClient.from_settings(settings)
    for credential in credentials:
        path = vault_paths.credential(
            settings.vault_tenants_path, credential.tenant_id, credential.exchange, credential.credential_type
        )
        vault.write(settings.vault_kv_mount, path, credential.vault_data())
    keys = simulator_keys(credentials, scopes=simulator_scopes())
    requests.post(f"{services.simulator_url}/__sim/keys", json=keys, timeout=30).raise_for_status()


def seed_endpoints(services: Services, tenants: list[str]) -> dict[str, str]:
    """One receiver endpoint per tenant; an endpoint a tenant already has is moved to this run's receiver."""
    from credential_health.notify.endpoints import EVENT_TYPES, add_endpoint
    from credential_health.notify.secrets import WebhookSecretStore
    from credential_health.settings import Settings
    from credential_health.storage.database import make_engine, upgrade
    from credential_health.storage.schema import tenant_webhooks

    settings = Settings.from_env()
    engine = make_engine(settings.database_url.get_secret_value())
    upgrade(engine)
    store = WebhookSecretStore.from_settings(settings)
    with engine.connect() as connection:
        query = sa.select(tenant_webhooks.c.tenant_id, tenant_webhooks.c.endpoint_id)
        endpoints = dict(connection.execute(query).tuples().all())
    for tenant_id in tenants:
        url = f"{services.receiver_url}/{tenant_id}"
        with engine.begin() as connection:
            if tenant_id in endpoints:  # a kept results database (make ui): same endpoint, new receiver port
                connection.execute(
                    tenant_webhooks.update()
                    .where(tenant_webhooks.c.endpoint_id == endpoints[tenant_id])
                    .values(url=url)
                )
            else:
                endpoints[tenant_id] = add_endpoint(connection, tenant_id, url, list(EVENT_TYPES), allow_private=True)
        secret = store.create(endpoints[tenant_id])  # OpenBao's dev server forgets everything when it stops
        requests.post(
            f"{services.receiver_url}/__receiver/secrets",
            json={"path": f"/{tenant_id}", "secrets": [secret]},
            timeout=10,
        ).raise_for_status()
    engine.dispose()
    return endpoints


def run_windows(started: float, count: int = WINDOWS, leave_newest: int = 0) -> tuple[list[str], list[str]]:
    """The real credential_health_job per window, then the real sensor and notify_tenants_job."""
    from dagster import DagsterInstance, RunsFilter, build_sensor_context

    from credential_health.definitions import defs
    from credential_health.partitions import check_windows

    instance = DagsterInstance.get()
    job = defs.resolve_job_def("credential_health_job")
    notify = defs.resolve_job_def("notify_tenants_job")
    sensor = defs.resolve_sensor_def("credential_failure_sensor")
    complete = check_windows.get_partition_keys(current_time=datetime.now(timezone.utc))
    windows = list(complete[: len(complete) - leave_newest][-count:])
    cursor, notify_runs = None, []
    for number, window in enumerate(windows, start=1):
        say(f"window {number}/{count} {window}: credential_health_job (inventory -> results -> rollup) ...", started)
        result = job.execute_in_process(instance=instance, partition_key=window, raise_on_error=False, run_config=QUIET)
        if not result.success:
            raise RuntimeError(f"credential_health_job failed for {window} (run {result.run_id}); see the Dagster UI")
        with build_sensor_context(instance=instance, cursor=cursor, definitions=defs) as context:
            tick = sensor.evaluate_tick(context)
        cursor = tick.cursor
        for request in tick.run_requests or []:
            assert request.run_key is not None  # the sensor keys each request by its rollup event
            if instance.get_runs(RunsFilter(tags={"dagster/run_key": request.run_key})):
                continue  # the same rollup event already launched its run
            say(f"window {number}/{count} {window}: credential_failure_sensor -> notify_tenants_job", started)
            run = notify.execute_in_process(
                instance=instance, run_config=QUIET, tags={**request.tags, "dagster/run_key": request.run_key}
            )
            notify_runs.append(run.run_id)
    return windows, notify_runs


def summarise(services: Services, credentials, windows: list[str], notify_runs: list[str], home: Path) -> dict:
    engine = sa.create_engine(os.environ["CREDENTIAL_HEALTH_DATABASE_URL"])
    with engine.connect() as connection:
        counts = connection.execute(
            sa.text(
                "SELECT window_start, status, COUNT(*) FROM credential_health_checks WHERE source = 'scheduled' "
                "GROUP BY window_start, status ORDER BY window_start"
            )
        ).all()
        alerts = connection.execute(
            sa.text(
                "SELECT tenant_id, exchange, credential_type, COUNT(*) FROM webhook_events "
                "WHERE event_type = 'credential.failed' GROUP BY tenant_id, exchange, credential_type "
                "ORDER BY 1, 2, 3"
            )
        ).all()
        risky = connection.execute(
            sa.text(
                "SELECT tenant_id, exchange, credential_type, risk_level, risk_reason FROM credential_scopes "
                "WHERE risk_level <> 'ok' ORDER BY tenant_id, exchange, credential_type"
            )
        ).all()
        streaks = {
            (r[0], r[1], r[2]): (r[3], r[4])
            for r in connection.execute(
                sa.text(
                    "SELECT tenant_id, exchange, credential_type, consecutive_failures, last_error_code "
                    "FROM credential_status"
                )
            )
        }
    engine.dispose()
    per_window: dict[str, dict[str, int]] = {}
    for window_start, status, count in counts:
        key = datetime.fromisoformat(str(window_start)).strftime("%Y-%m-%d-%H:%M")
        per_window.setdefault(key, {"valid": 0, "invalid": 0, "unknown": 0})[status] = count
    received = requests.get(f"{services.receiver_url}/__receiver/received", timeout=10).json()
    # What the tenants got, kept beside the instance (and searched by the leak test).
    (home / "demo-logs" / "received.json").write_text(json.dumps(received, indent=1))
    accepted = [r for r in received if r["verified"] and r["answered"] and 200 <= r["status"] < 300]
    types = [json.loads(r["body"])["type"] for r in accepted]
    return {
        "windows": windows,
        "per_window": per_window,
        "expected_per_window": {
            s: sum(c.expected_status == s for c in credentials) for s in ("valid", "invalid", "unknown")
        },
        "alerted": [
            {
                "credential": f"{t}/{e}/{c}",
                "events": n,
                "streak": streaks[(t, e, c)][0],
                "error_code": streaks[(t, e, c)][1],
            }
            for t, e, c, n in alerts
        ],
        "webhooks_received": len(received),
        "webhooks_accepted": len(accepted),
        "accepted_types": sorted(set(types)),
        "scope_events": {
            t: types.count(t)
            for t in sorted(set(types))
            if t.startswith("credential.") and t not in (EventType.FAILED, EventType.RECOVERED)
        },
        "risky_scopes": [
            {"credential": f"{t}/{e}/{c}", "risk_level": level, "reason": reason} for t, e, c, level, reason in risky
        ],
        "notify_runs": notify_runs,
        "dagster_home": str(home),
    }


def report(summary: dict) -> None:
    print("\nPer-window results (scheduled checks):")
    print(f"  {'window':<18} {'valid':>6} {'invalid':>8} {'unknown':>8}")
    for window, counts in summary["per_window"].items():
        print(f"  {window:<18} {counts['valid']:>6} {counts['invalid']:>8} {counts['unknown']:>8}")
    print(
        f"\nCredentials that reached the alert threshold ({len(summary['alerted'])}; credential.failed sent once each):"
    )
    for alert in summary["alerted"]:
        print(f"  {alert['credential']:<34} streak {alert['streak']}  {alert['error_code']}")
    if summary["risky_scopes"]:  # the simulator reported scopes: the scope audit's findings and events
        print(f"\nKeys with a scope risk ({len(summary['risky_scopes'])}; docs/operations.md, Scope audit):")
        for risky in summary["risky_scopes"]:
            print(f"  {risky['credential']:<34} {risky['risk_level']:<8} {risky['reason']}")
        print(
            "Scope events accepted by the receiver (each once, whatever the window): "
            + ", ".join(f"{t} {n}" for t, n in summary["scope_events"].items())
        )
    print(
        f"\nWebhooks accepted by the receiver (Standard Webhooks signature verified): "
        f"{summary['webhooks_accepted']} of {summary['webhooks_received']} received"
    )
    print("\nAll demo processes are stopped. Open the Dagster UI on this instance with:  make ui")
    print(f"  (DAGSTER_HOME={summary['dagster_home']}; runs, asset lineage, partitions and checks are there)")


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def main() -> int:
    started = time.monotonic()
    # `kill` stops the demo as cleanly as Ctrl-C. SIGINT too: started in the background it would be ignored,
    # and Dagster's in-process runs hand SIGTERM whatever SIGINT had.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    home = prepare_home()
    credentials = demo_credentials(os.environ.get("CREDENTIAL_HEALTH_DEMO_SEED"))
    say(
        f"starting OpenBao, the exchange simulator and a webhook receiver on loopback (logs: {home / 'demo-logs'})",
        started,
    )
    try:
        with Services(home / "demo-logs") as services:
            configure(services)
            say(
                f"seeding {len(credentials)} credentials for {len({c.tenant_id for c in credentials})} tenants", started
            )
            seed(services, credentials)
            windows, notify_runs = run_windows(started)
            summary = summarise(services, credentials, windows, notify_runs, home)
    except KeyboardInterrupt:
        print("\ninterrupted: every demo process was stopped", file=sys.stderr)
        return 130
    (home / "demo_summary.json").write_text(json.dumps(summary, indent=2))
    report(summary)
    say("done", started)
    return 0
