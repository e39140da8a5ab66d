"""``minis2s course``: build a course kit (student edition, solutions, autograder), grade.

The sub-command lives in :mod:`minis2s.course.cli` (``docs/course.md``). A course's
student edition leaves the kit out, so there ``minis2s course`` only says so.
"""

from __future__ import annotations

import argparse
from typing import Any

from minis2s.cli.common import Command, CommandError

_ABSENT = ("the course kit is not part of this copy of minis2s (a course's student "
           "edition leaves minis2s/course/ out)")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    try:
        from minis2s.course.cli import add_parser as add_course_parser
    except ModuleNotFoundError as exc:
        if exc.name != "minis2s.course":
            raise
        p = sub.add_parser("course", help="(not in this edition)", description=_ABSENT)
        p.add_argument("rest", nargs=argparse.REMAINDER, help="(ignored)")
        return p
    return add_course_parser(sub)


def run(args: argparse.Namespace) -> int:
    if not hasattr(args, "func"):
        raise CommandError(_ABSENT)
    return args.func(args)


COMMAND = Command("course", add_parser, run)
