"""`python -m nono` runs the CLI."""

from nono.bot.cli import main

raise SystemExit(main())
