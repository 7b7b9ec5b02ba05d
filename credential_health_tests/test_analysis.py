"""credential_health.analysis and docs/analysts.md: every example on the page runs against a real pipeline run,
on SQLite and PostgreSQL, and each question's SQL and pandas answers agree."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from credential_health import analysis
from credential_health_tests.fixtures.windows import recent_windows

DOC = Path(__file__).resolve().parents[1] / "docs" / "analysts.md"
WINDOWS = recent_windows(8)
# (tenant, exchange, credential type) -> simulator behaviour per window
PLAN = {
    ("steady", "binance", "trading"): ["valid"] * 8,
    ("stuck", "kraken", "trading"): ["revoked"] * 8,
    ("recovers", "binance", "trading"): ["revoked"] * 3 + ["valid"] * 5,
    ("repeat", "binance", "trading"): ["revoked"] * 3 + ["valid"] + ["revoked"] * 3 + ["valid"],
    ("throttled", "kraken", "trading"): ["rate_limited"] * 8,
    ("perm", "binance", "readonly"): ["permission_denied"] * 8,
}


def run_windows(pipeline) -> None:
    for (tenant, exchange, kind), plan in PLAN.items():
        pipeline.add(tenant, exchange, kind, behaviour=plan[0])
    for index, window in enumerate(WINDOWS):
        for (tenant, exchange, kind), plan in PLAN.items():
            if index and plan[index] != plan[index - 1]:
                pipeline.rescript(tenant, exchange, plan[index], credential_type=kind)
        assert pipeline.materialize(window).success


def doc_sections() -> list[tuple[str, list[tuple[str, str, str]]]]:
    """(heading, [(language, dialect, code)]) for each `##` section of the page, in order."""
    sections = []
    for part in re.split(r"^## ", DOC.read_text(), flags=re.MULTILINE)[1:]:
        heading = part.splitlines()[0]
        blocks = re.findall(r"^```(\w+)(?: (\w+))?\n(.*?)^```", part, flags=re.MULTILINE | re.DOTALL)
        sections.append((heading, blocks))
    return sections


def assert_same_answer(sql_result: pd.DataFrame, pandas_result: pd.DataFrame) -> None:
    assert list(sql_result.columns) == list(pandas_result.columns)
    assert len(sql_result) == len(pandas_result)
    for column in pandas_result.columns:
        ours = pandas_result[column]
        theirs = sql_result[column]
        if isinstance(ours.dtype, pd.DatetimeTZDtype):
            theirs = (
                pd.to_datetime(theirs, utc=True, format="ISO8601")
                if theirs.dtype == object
                else pd.to_datetime(theirs, utc=True)
            )
            assert list(theirs) == list(ours), column
        elif pd.api.types.is_numeric_dtype(ours.dtype):
            for a, b in zip(theirs.astype(float), ours.astype(float), strict=True):
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6), column
        else:
            assert list(theirs.astype(str)) == list(ours.astype(str)), column


def test_every_example_in_the_doc_runs_and_sql_agrees_with_pandas(pipeline):
    run_windows(pipeline)
    dialect = pipeline.engine.dialect.name
    namespace: dict = {}
    answers = {}
    for heading, blocks in doc_sections():
        sql = [code for language, variant, code in blocks if language == "sql" and variant in ("", dialect)]
        python = [code for language, _, code in blocks if language == "python"]
        assert python, f"section {heading!r} has no pandas example"
        for code in python:
            exec(compile(code, f"{DOC.name}: {heading}", "exec"), namespace)
        answers[heading] = namespace["result"]
        if heading != "Loading the tables":
            assert len(sql) == 1, f"section {heading!r} needs one SQL query for {dialect}"
            with pipeline.engine.connect() as connection:
                assert_same_answer(pd.read_sql(sa.text(sql[0]), connection), namespace["result"])
    namespace["engine"].dispose()

    rates = answers["Failure rate per exchange per window"]
    first = rates[rates["window_start"] == rates["window_start"].min()].set_index("exchange")
    assert first.loc["binance", ["checks", "invalid", "unknown"]].tolist() == [4, 3, 0]
    assert first.loc["kraken", ["failure_rate", "unknown_rate"]].tolist() == [0.5, 0.5]
    assert rates["checks"].sum() == len(PLAN) * len(WINDOWS)
    recoveries = answers["Time to recovery"]
    assert sorted(recoveries["tenant_id"]) == ["recovers", "repeat", "repeat"]
    assert (recoveries["windows_failed"] == 3).all() and (recoveries["hours_to_recovery"] > 0).all()
    repeated = answers["Tenants with repeated episodes"]
    assert repeated[["tenant_id", "episodes", "credentials"]].values.tolist() == [["repeat", 2, 1]]


def test_loaders_give_utc_timestamps_and_nullable_dtypes(pipeline):
    pipeline.add("acme", "binance", behaviour="revoked")
    assert pipeline.materialize(WINDOWS[-1]).success
    checks = analysis.load_checks(pipeline.engine)
    assert str(checks["window_start"].dt.tz) == "UTC" and str(checks["checked_at"].dt.tz) == "UTC"
    assert checks["status"].dtype == "string" and checks["duration_ms"].dtype == "Int64"
    assert checks["error_code"].tolist() == ["auth_rejected"]
    status = analysis.load_status(pipeline.engine)
    assert status["present_in_inventory"].dtype == "boolean" and status["consecutive_failures"].tolist() == [1]
    assert status["alerted_at"].isna().all() and str(status["alerted_at"].dt.tz) == "UTC"
    episodes = analysis.load_episodes(pipeline.engine)  # below the threshold: none yet, still typed
    assert episodes.empty and str(episodes["opened_at"].dt.tz) == "UTC" and episodes["alerted"].dtype == "boolean"
    deliveries = analysis.load_deliveries(pipeline.engine)
    assert deliveries.empty and deliveries["status_code"].dtype == "Int64"
    assert len(analysis.load_checks(pipeline.engine, since=checks["window_start"].max())) == 1
    assert analysis.load_checks(pipeline.engine, until=checks["window_start"].min()).empty
