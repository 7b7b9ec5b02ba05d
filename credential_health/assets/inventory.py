"""`credential_inventory`: who has which credential where, from a LIST-only Vault walk."""


from collections import Counter

from dagster import AssetExecutionContext, MetadataValue, Output, asset

from credential_health.models import CredentialRef
from credential_health.partitions import PARTITION_TAG, require_closed_window
from credential_health.resources import CredentialSource

GROUP = "credential_health"
TOP_TENANTS = 10


def inventory_metadata(refs: list[CredentialRef]) -> dict:
    """Counts per tenant, exchange and credential type (never a secret value)."""
    by_pair = Counter((r.exchange, r.credential_type) for r in refs)
    by_tenant = Counter(r.tenant_id for r in refs)
    table = ["| exchange | credential type | credentials |", "|---|---|---:|"]
    table += [f"| {e} | {t} | {n} |" for (e, t), n in sorted(by_pair.items())]
    tenants = ["| tenant | credentials |", "|---|---:|"]
    tenants += [f"| {t} | {n} |" for t, n in by_tenant.most_common(TOP_TENANTS)]
    return {
        "credentials": len(refs),
        "tenants": len(by_tenant),
        "exchanges": MetadataValue.json(dict(sorted(Counter(r.exchange for r in refs).items()))),
        "credential_types": MetadataValue.json(dict(sorted(Counter(r.credential_type for r in refs).items()))),
        "by_exchange_and_type": MetadataValue.md("\n".join(table)),
        "largest_tenants": MetadataValue.md("\n".join(tenants)),
    }


@asset(group_name=GROUP, kinds={"vault"})
def credential_inventory(context: AssetExecutionContext, credentials: CredentialSource) -> Output[list[CredentialRef]]:
    """Every tenant credential reference in Vault (tenant, exchange, type), found by LIST only."""
    if PARTITION_TAG in context.run.tags:  # a window's run: refuse a key outside the partition set right away
        require_closed_window(context.run.tags[PARTITION_TAG])
    refs = credentials.walk()  # a Vault failure raises here: the run fails before any window is touched
    context.log.info(f"inventory: {len(refs)} credentials of {len({r.tenant_id for r in refs})} tenants")
    return Output(refs, metadata=inventory_metadata(refs))
