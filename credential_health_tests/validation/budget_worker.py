"""A validation worker process for the shared-budget tests and bench.

`python -m credential_health_tests.validation.budget_worker SPEC.json`: validates the credentials listed in the
spec with the settings in its environment (budget, Redis, egress address), once it reads "go" on stdin, and
prints a JSON summary. It says "ready" first, so a parent can start every worker at the same moment.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter

from credential_health.models import CredentialRef, ExchangeSecret
from credential_health.settings import Settings
from credential_health.validation import ExchangeValidator


def main(spec_path: str) -> int:
    with open(spec_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    secrets = {
        entry["tenant"]: ExchangeSecret(api_key=entry["api_key"], secret=entry["secret"])
        for entry in spec["credentials"]
    }
    refs = [CredentialRef(tenant, spec["exchange"], "trading") for tenant in secrets]
    validator = ExchangeValidator.from_settings(Settings.from_env())
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.time()
    results = validator.validate_all(refs, lambda ref: secrets[ref.tenant_id])
    summary = {
        "codes": Counter(r.error_code for r in results),
        "checks": len(results),
        "started": started,
        "finished": time.time(),
        "max_attempts": max((r.attempts for r in results), default=0),
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
