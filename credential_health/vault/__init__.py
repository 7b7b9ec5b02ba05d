"""Vault (or OpenBao) access over hvac: authentication, the inventory walk, just-in-time secret reads."""
