"""The analysts' scope tables on SQLite and PostgreSQL: one current row per credential, one change row per change."""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa

from credential_health.storage import scopes as store
from credential_health.storage.database import make_engine, upgrade
from credential_health.storage.schema import credential_health_checks, credential_scope_changes, credential_scopes
from credential_health_tests.notify.scope_support import KEY, OURS, SAFE, check, write_window


def table(engine, name):
    with engine.connect() as connection:
        return [dict(r) for r in connection.execute(sa.select(name)).mappings()]


def test_a_change_row_per_change_and_one_current_row(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    risky = replace(SAFE, can_withdraw=True)
    for n, scope in enumerate([SAFE, SAFE, risky, risky, SAFE, SAFE]):  # A A B B A A
        write_window(engine, n, [check(n, scope)])
        write_window(engine, n, [check(n, scope)], run_id="rerun")
    write_window(engine, 2, [check(2, risky)], run_id="again")  # older than the current record: not a change
    with engine.connect() as connection:
        changes = store.history(connection, KEY)
    assert [(c["can_withdraw"], c["risk_level"], c["previous_risk_level"], c["changed_fields"]) for c in changes] == [
        (False, "ok", None, ""),
        (True, "high", "ok", "can_withdraw"),
        (False, "ok", "high", "can_withdraw"),
    ]
    assert [c["previous_change_id"] for c in changes] == [None, changes[0]["change_id"], changes[1]["change_id"]]
    [current] = table(engine, credential_scopes)
    assert current["change_id"] == changes[-1]["change_id"] and current["observed_at"] == check(5, SAFE).checked_at
    assert store.from_columns(current) == SAFE and current["egress_address"] == OURS
    checks = table(engine, credential_health_checks)
    assert {c["egress_address"] for c in checks} == {OURS}
    engine.dispose()


def test_the_operations_guide_scope_queries_run(database_url):
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    section = doc.split("## Scope audit")[1].split("\n## ")[0]
    queries = re.findall(r"```sql\n(.*?)```", section, flags=re.DOTALL)
    engine = make_engine(database_url)
    upgrade(engine)
    write_window(engine, 0, [check(0, SAFE)])
    write_window(engine, 1, [check(1, replace(SAFE, can_withdraw=True))])
    answers = []
    with engine.connect() as connection:
        for query in queries:
            if "INTERVAL" in query and engine.dialect.name == "sqlite":
                continue  # PostgreSQL's syntax; the comment gives SQLite's
            answers.append(connection.execute(sa.text(query)).all())
    engine.dispose()
    assert len(queries) == 5
    assert [tuple(row[:4]) for row in answers[0]] == [("acme", "binance", "trading", "withdrawals enabled")]
    assert [tuple(row) for row in answers[1]] == [("binance", "high", 1)]
    assert [row[1] for row in answers[2]] == ["", "can_withdraw"]


def test_a_large_batch_is_staged_and_a_rerun_adds_nothing(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    keys = [(f"t{i:03d}", "binance", "trading") for i in range(250)]  # PostgreSQL stages 200+ rows with COPY
    for run_id in ("first", "rerun"):
        write_window(
            engine,
            0,
            [check(0, replace(SAFE, ip_allowlist=(OURS, f"10.0.0.{i % 9}")), key=key) for i, key in enumerate(keys)],
            run_id=run_id,
        )
    current = table(engine, credential_scopes)
    assert len(current) == len(table(engine, credential_scope_changes)) == 250
    assert {store.from_columns(row).ip_allowlist for row in current} == {(OURS, f"10.0.0.{i}") for i in range(9)}
    engine.dispose()
