"""The one place Vault paths are built: KV v2's API paths and this project's folders in it.

KV v2 keeps a secret's value at {mount}/data/{path} and its versions at {mount}/metadata/{path} (OpenBao also
lists folders with their secrets' metadata at {mount}/detailed-metadata/{path}). Credentials live at
{tenants_path}/{tenant_id}/{exchange}/{credential_type}; webhook signing secrets at {webhooks_path}/{endpoint_id}.
"""

from __future__ import annotations


def data(mount: str, path: str) -> str:
    return f"{mount}/data/{path}"


def metadata(mount: str, path: str) -> str:
    return f"{mount}/metadata/{path}"


def detailed_metadata(mount: str, path: str) -> str:
    return f"{mount}/detailed-metadata/{path}"


def exchange_folder(tenants_path: str, tenant_id: str, exchange: str) -> str:
    """The folder holding one tenant's credentials for one exchange (one secret per credential type)."""
    return f"{tenants_path}/{tenant_id}/{exchange}"


def credential(tenants_path: str, tenant_id: str, exchange: str, credential_type: str) -> str:
    return f"{exchange_folder(tenants_path, tenant_id, exchange)}/{credential_type}"


def webhook_secret(webhooks_path: str, endpoint_id: str) -> str:
    return f"{webhooks_path.strip('/')}/{endpoint_id}"
