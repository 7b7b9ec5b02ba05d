"""The ops inside `credential_validation_results`: plan the shards, validate each shard, finish the window."""

from dagster import (
    Backoff,
    DynamicOut,
    DynamicOutput,
    In,
    Jitter,
    OpExecutionContext,
    Out,
    Output,
    RetryPolicy,
    op,
)

from credential_health.assets.shard_work import ShardSummary, finish_window, validate_shard
from credential_health.checks import no_secret_material_spec
from credential_health.executors import shard_tags
from credential_health.models import CredentialRef
from credential_health.partitions import require_closed_window
from credential_health.resources import CredentialValidator, ResultsDatabase, VaultCredentialSource
from credential_health.shards import egress_pool, pool_of, split
from credential_health.step_errors import step_failure
from credential_health.validation import guard

# Vault or the database connection failing is worth another try (of what is not stored yet); credential
# failures never raise; a deterministic error is a Failure without retries (credential_health.step_errors).
INFRASTRUCTURE_RETRY = RetryPolicy(max_retries=3, delay=15, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
CHECK_OUTPUTS = [spec.get_python_identifier() for spec in (no_secret_material_spec, guard.exchange_wide_guard_spec)]


def op_name(pool: str) -> str:
    return pool.replace("-", "_")


def plan_op(pools: tuple[str, ...], shards: int):
    """Splits the inventory into shards, handed to each egress pool's dynamic output."""

    @op(
        name="plan_shards",
        out={op_name(p): DynamicOut(is_required=False) for p in pools},
        description="Check the window is closed and the database reachable, then split the inventory into shards.",
    )
    def plan_shards(
        context: OpExecutionContext, credential_inventory: list[CredentialRef], results_db: ResultsDatabase
    ):
        require_closed_window(context.partition_key)  # before any exchange call or row
        try:  # an unreachable or misconfigured database fails the run before any exchange call
            results_db.reach()
        except Exception as exc:  # noqa: BLE001 - sorted into retried and final failures, with redacted text only
            raise step_failure(exc, what="results database setup") from None
        planned = split(credential_inventory, shards)
        context.log.info(
            f"{len(credential_inventory)} credentials in {len(planned)} shards of at most "
            f"{max(map(len, planned.values()), default=0)}"
        )
        for shard, refs in planned.items():
            yield DynamicOutput(refs, mapping_key=f"shard_{shard}", output_name=op_name(pool_of(shard, pools)))

    return plan_shards


def shard_op(pool: str):
    """Validates one shard on its egress pool (Celery queue, Dagster pool) and hands on a summary only."""

    @op(
        name=f"validate_shard_{op_name(pool)}",
        pool=egress_pool(pool),
        tags=shard_tags(pool),
        retry_policy=INFRASTRUCTURE_RETRY,
        out=Out(ShardSummary),
        description=f"Validate one shard on egress pool {pool}; its rows are stored, a summary is handed on.",
    )
    def validate_shard_op(
        context: OpExecutionContext,
        refs: list[CredentialRef],
        credentials: VaultCredentialSource,
        validator: CredentialValidator,
        results_db: ResultsDatabase,
    ) -> ShardSummary:
        summary = validate_shard(context, refs, credentials, validator, results_db)
        context.log.info(
            f"shard {context.get_mapping_key()} on {pool}: {summary.checked} checked, "
            f"{summary.resumed} kept from an earlier attempt, {summary.refused} refused"
        )
        return summary

    return validate_shard_op


def finish_op(pools: tuple[str, ...]):
    """Runs once after every shard: the exchange-wide guard, removed credentials, metadata and both checks."""

    @op(
        name="finish_window",
        retry_policy=INFRASTRUCTURE_RETRY,
        ins={"credential_inventory": In(), **{f"summaries_{op_name(p)}": In() for p in pools}},
        out={"result": Out(is_required=True), **{name: Out(is_required=False) for name in CHECK_OUTPUTS}},
        description="Hold exchange-wide failures, drop rows of removed credentials, report the window.",
    )
    def finish(context: OpExecutionContext, results_db: ResultsDatabase, **inputs):
        inventory = inputs.pop("credential_inventory")
        summaries = [summary for batch in inputs.values() for summary in batch]
        metadata, checks = finish_window(context, inventory, summaries, results_db)
        yield Output({"total": metadata["total"], "shards": len(summaries)}, "result", metadata=metadata)
        yield from checks

    return finish
