"""`python -m ghostwright.server` is the `ghostwright` command."""

from ghostwright.server.cli import main

raise SystemExit(main())
