"""`python -m logfire`: the `logfire` command line."""

from logfire._internal.cli import main

raise SystemExit(main())
