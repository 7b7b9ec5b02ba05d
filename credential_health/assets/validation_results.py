"""`credential_validation_results`: one check per inventoried credential per window, stored idempotently.

A graph-backed asset, so the UI still shows one asset: `plan_shards` splits the inventory by a stable hash into
CREDENTIAL_HEALTH_SHARDS shards dealt to the egress pools; each shard step validates and stores its own rows
and hands on only a summary; `finish_window` runs once after every shard (the exchange-wide guard, removed
credentials, metadata, the blocking checks). Which executor runs the steps is configuration (executors.py).
"""

from __future__ import annotations

from dagster import graph_asset

from credential_health.assets.metadata import percentile, results_metadata
from credential_health.assets.validation_shards import (
    CHECK_OUTPUTS,
    INFRASTRUCTURE_RETRY,
    finish_op,
    op_name,
    plan_op,
    shard_op,
)
from credential_health.checks import no_secret_material_spec
from credential_health.partitions import check_windows
from credential_health.shards import scale_settings
from credential_health.validation import guard

GROUP = "credential_health"
SCALE = scale_settings()  # the graph's shape: its shards and egress pools are fixed when the code location loads

_plan = plan_op(SCALE.egress_pools, SCALE.shards)
_shards = {pool: shard_op(pool) for pool in SCALE.egress_pools}
_finish = finish_op(SCALE.egress_pools)


@graph_asset(
    partitions_def=check_windows,
    group_name=GROUP,
    kinds={"ccxt", "sql"},
    check_specs=[no_secret_material_spec, guard.exchange_wide_guard_spec],
    description="One exchange check per inventoried credential for the window, rows in credential_health_checks.",
)
def credential_validation_results(credential_inventory):
    planned = _plan(credential_inventory)
    if len(SCALE.egress_pools) == 1:
        planned = {op_name(SCALE.egress_pools[0]): planned}
    else:
        planned = planned._asdict()
    summaries = {
        f"summaries_{op_name(pool)}": planned[op_name(pool)].map(_shards[pool]).collect() for pool in SCALE.egress_pools
    }
    result, *checks = _finish(credential_inventory=credential_inventory, **summaries)
    return {"result": result, **dict(zip(CHECK_OUTPUTS, checks, strict=True))}


__all__ = ["INFRASTRUCTURE_RETRY", "credential_validation_results", "percentile", "results_metadata"]
