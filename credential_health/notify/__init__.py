"""Tenant webhooks, transport layer: `signing` (Standard Webhooks), `ssrf` (URL guard), `transport` (delivery)."""
