"""The ``course`` sub-command: ``minis2s course build OUT`` and ``minis2s course grade SUB``.

:func:`add_parser` registers it on the main command's sub-parsers; :func:`main` runs it
alone (``python -m minis2s.course``). Bad input ends with one line on standard error
and exit status 2, as everywhere in the command line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_INPUT = 2


def _ids(text: str) -> list[str]:
    ids = [t.strip().upper() for t in text.split(",") if t.strip()]
    if not ids:
        raise argparse.ArgumentTypeError("expected assignment ids such as A1,A3")
    return ids


def _cmd_build(args: argparse.Namespace) -> int:
    from minis2s.course.build import BuildError, build

    try:
        report = build(args.out, args.assignments, force=args.force, jobs=args.jobs)
    except (BuildError, ValueError, FileNotFoundError, LookupError) as exc:
        print(f"minis2s course build: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_INPUT
    out = report.out
    print(f"built the course kit for {', '.join(report.assignments)} in {report.seconds:.1f} s "
          f"(golden values {report.golden_seconds:.1f} s):")
    print(f"  {out / 'student'}      hand this out ({len(report.stubs)} functions to write; "
          f"ASSIGNMENTS.md is its front page)")
    print(f"  {out / 'solutions'}    the reference solutions (keep apart)")
    print(f"  {out / 'autograder'}   grade with: minis2s course grade SUBMISSION "
          f"--autograder {out / 'autograder'}")
    return 0


def _autograder_for(args: argparse.Namespace) -> Path:
    if args.autograder:
        return Path(args.autograder)
    sub = Path(args.submission).resolve()
    for candidate in (sub.parent / "autograder", Path.cwd() / "autograder"):
        if (candidate / "manifest.json").exists():
            return candidate
    raise FileNotFoundError("no autograder found next to the submission or here; pass "
                            "--autograder OUT/autograder (made by minis2s course build OUT)")


def _cmd_grade(args: argparse.Namespace) -> int:
    import importlib.util

    try:
        ag = _autograder_for(args).resolve()
        if not (ag / "grade.py").exists():
            raise FileNotFoundError(f"{ag} is not an autograder folder (no grade.py)")
    except FileNotFoundError as exc:
        print(f"minis2s course grade: {exc}", file=sys.stderr)
        return EXIT_INPUT
    spec = importlib.util.spec_from_file_location("minis2s_course_grade", ag / "grade.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)         # the autograder's own copy, never the submission's
    argv = [args.submission]
    for flag, value in (("--json", args.json), ("--timeout", args.timeout), ("--jobs", args.jobs)):
        if value is not None:
            argv += [flag, str(value)]
    if args.only:
        argv += ["--only", *args.only]
    return module.main(argv, ag)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``course`` (with ``build`` and ``grade``) on the main command."""
    course = subparsers.add_parser(
        "course", help="build a course kit (student edition, solutions, autograder) or grade",
        description="A course from minis2s in three commands: build the kit, hand out "
        "OUT/student, grade submissions with the kit's autograder (docs/course.md).")
    sub = course.add_subparsers(dest="course_command", metavar="{build,grade}", required=True,
                                help="build the kit, or grade a submission with it")
    b = sub.add_parser("build", help="write OUT/student, OUT/solutions and OUT/autograder",
                       description="Write the student edition (the chosen assignments' "
                       "functions removed), the solutions and the autograder.")
    b.add_argument("out", metavar="OUT", help="folder to write (must be empty or new)")
    b.add_argument("--assignments", type=_ids, metavar="A1,A3,...",
                   help="the assignments to include (default: all; see assignments.toml)")
    b.add_argument("--force", action="store_true", help="replace OUT if it exists")
    b.add_argument("--jobs", type=int, help="processes for the golden values (default: up to 4)")
    b.set_defaults(func=_cmd_build)
    g = sub.add_parser("grade", help="grade a submission piece by piece",
                       description="Run each piece's hidden checks against the submission in "
                       "a process of its own; print a table; write Gradescope's results.json.")
    g.add_argument("submission", metavar="SUBMISSION", help="folder holding the minis2s/ package")
    g.add_argument("--json", metavar="RESULTS", help="write Gradescope's results.json here")
    g.add_argument("--autograder", metavar="DIR",
                   help="the kit's autograder (default: ../autograder next to SUBMISSION)")
    g.add_argument("--timeout", type=float, help="seconds per piece (default: the kit's)")
    g.add_argument("--jobs", type=int, help="pieces graded at once (default: up to 4)")
    g.add_argument("--only", nargs="*", metavar="ID", help="only these assignments or pieces")
    g.set_defaults(func=_cmd_grade)
    return course


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minis2s")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["course", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)
