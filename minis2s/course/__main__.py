"""``python -m minis2s.course build|grade ...``: the course sub-command on its own."""

import sys

from minis2s.course.cli import main

sys.exit(main())
