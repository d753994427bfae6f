"""``python -m pconf``."""

from pconf.cli import main

raise SystemExit(main())
