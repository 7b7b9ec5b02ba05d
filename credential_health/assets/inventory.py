"""`credential_inventory`: who has which credential where, from a LIST-only Vault walk."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Backoff,
    Failure,
    Jitter,
    Output,
    RetryPolicy,
    asset,
)

from credential_health.assets.metadata import inventory_metadata
from credential_health.models import CredentialRef
from credential_health.partitions import PARTITION_TAG, require_closed_window
from credential_health.resources import VaultCredentialSource
from credential_health.settings import SettingsError
from credential_health.vault.errors import VaultDown, VaultTimeout, VaultUnreachable

GROUP = "credential_health"
INVENTORY = "credential_inventory"
NOT_SHRUNK = "inventory_not_shrunk"
# The count later runs compare with: it stays at the last accepted size while the check keeps failing.
BASELINE = "shrink_baseline"
ACCEPT_SHRINK_TAG = "credential_health/accept_inventory_shrink"
# Below this many lost credentials a share is noise (2 -> 1 is 50%), unless the inventory emptied completely.
MIN_LOST = 10

# A sealed, restarting or unreachable Vault is worth waiting for (~15 s, 30 s, 60 s); a login or policy error
# is not: the same token gets the same answer, so those fail at once.
VAULT_OUTAGE_RETRY = RetryPolicy(max_retries=3, delay=15, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
VAULT_OUTAGES = (VaultDown, VaultUnreachable, VaultTimeout)

# Blocking: a Vault path or policy mistake looks like mass removal, and the rollup would mark every missing
# credential removed (dropping its streak). The window's run stops here instead.
inventory_not_shrunk_spec = AssetCheckSpec(
    NOT_SHRUNK,
    asset=INVENTORY,
    blocking=True,
    description="Since the last accepted materialisation the inventory did not empty, nor lose more than "
    "CREDENTIAL_HEALTH_INVENTORY_MAX_SHRINK of its credentials (at least 10).",
)


def previous_baseline(context: AssetExecutionContext) -> int | None:
    """The credential count the last materialisation accepted (None on the first one)."""
    event = context.instance.get_latest_materialization_event(AssetKey(INVENTORY))
    if event is None or event.asset_materialization is None:
        return None
    metadata = event.asset_materialization.metadata
    entry = metadata.get(BASELINE) or metadata.get("credentials")
    return int(entry.value) if entry is not None else None


def shrink_result(baseline: int | None, count: int, max_shrink: float, accepted: bool) -> AssetCheckResult:
    lost = (baseline or 0) - count
    shrink = lost / baseline if baseline else 0.0
    emptied = bool(baseline) and count == 0
    passed = accepted or not (emptied or (lost >= MIN_LOST and shrink > max_shrink))
    return AssetCheckResult(
        check_name=NOT_SHRUNK,
        asset_key=INVENTORY,
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "previous_credentials": baseline if baseline is not None else "none (first materialisation)",
            "credentials": count,
            "lost": max(lost, 0),
            "shrink_share": round(max(shrink, 0.0), 4),
            "max_shrink_share": max_shrink,
            "accepted_by_tag": accepted,
            **(
                {}
                if passed
                else {
                    "what_to_do": (
                        "Check VAULT_TENANTS_PATH and the token's policy. If the removal is intended, launch "
                        f"credential_inventory with the run tag {ACCEPT_SHRINK_TAG}=true."
                    )
                }
            ),
        },
    )


def outage_only(exc: Exception) -> Exception:
    """Vault outages propagate (the retry policy applies); every other failure ends the step at once."""
    if isinstance(exc, VAULT_OUTAGES):
        return exc
    return Failure(description=f"Vault inventory failed: {type(exc).__name__}: {exc}", allow_retries=False)


@asset(group_name=GROUP, kinds={"vault"}, retry_policy=VAULT_OUTAGE_RETRY, check_specs=[inventory_not_shrunk_spec])
def credential_inventory(context: AssetExecutionContext, credentials: VaultCredentialSource):
    """Every tenant credential reference in Vault (tenant, exchange, type), found by LIST only."""
    if PARTITION_TAG in context.run.tags:  # a window's run: refuse a key outside the partition set right away
        require_closed_window(context.run.tags[PARTITION_TAG])
    try:  # a setting that cannot work fails the run at once (a retry reads the same environment)
        max_shrink = credentials.settings.inventory_max_shrink
    except SettingsError as exc:
        raise Failure(description=f"configuration error: {exc}", allow_retries=False) from None
    try:
        refs: list[CredentialRef] = credentials.walk()  # raises before any window is touched
    except Exception as exc:  # sorted into retried and final failures
        failure = outage_only(exc)
        if failure is exc:
            raise
        raise failure from None  # never chain: the original's text is not trusted to be secret-free
    context.log.info(f"inventory: {len(refs)} credentials of {len({r.tenant_id for r in refs})} tenants")
    baseline = previous_baseline(context)
    accepted = context.run.tags.get(ACCEPT_SHRINK_TAG, "").lower() == "true"
    check = shrink_result(baseline, len(refs), max_shrink, accepted)
    kept = len(refs) if check.passed else baseline
    yield Output(refs, metadata={**inventory_metadata(refs), BASELINE: kept})
    yield check
