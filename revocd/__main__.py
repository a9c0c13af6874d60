"""`python -m revocd` is the same as the `revocd` console script."""

from revocd.cli import main

raise SystemExit(main())
