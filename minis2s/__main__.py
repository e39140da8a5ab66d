"""``python -m minis2s`` is the ``minis2s`` command."""

from minis2s.cli import main

raise SystemExit(main())
