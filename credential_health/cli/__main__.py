"""`python -m credential_health.cli` is the same as `credential-health`."""

import sys

from credential_health.cli import main

sys.exit(main())
