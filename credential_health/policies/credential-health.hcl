# Least privilege for credential_health with the default layout (VAULT_KV_MOUNT=secret,
# VAULT_TENANTS_PATH=tenants, VAULT_WEBHOOK_SECRETS_PATH=credential-health/webhooks).
# Change the paths if you changed those settings.

# Inventory walk: LIST (and metadata reads) under the tenants folder; never secret values.
path "secret/metadata/tenants" {
  capabilities = ["list"]
}
path "secret/metadata/tenants/*" {
  capabilities = ["list", "read"]
}
# OpenBao only: LIST with each secret's version metadata in one answer (skips deleted secrets cheaply).
path "secret/detailed-metadata/tenants" {
  capabilities = ["list"]
}
path "secret/detailed-metadata/tenants/*" {
  capabilities = ["list"]
}

# Just-in-time read of one credential when it is validated.
path "secret/data/tenants/*" {
  capabilities = ["read"]
}

# Webhook signing secrets: the notify job reads them; `credential-health webhooks add/rotate-secret`
# (an operator's token) also needs create/update. Remove those two for the worker's token if you
# register endpoints with a separate operator token.
path "secret/data/credential-health/webhooks/*" {
  capabilities = ["read", "create", "update"]
}
