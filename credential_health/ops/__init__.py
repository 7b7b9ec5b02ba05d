"""Ops of the op-based jobs (webhook notification)."""
