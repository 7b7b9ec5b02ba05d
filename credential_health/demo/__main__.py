"""`python -m credential_health.demo` (what `make demo` runs)."""

import sys

from credential_health.demo.run import main

sys.exit(main())
