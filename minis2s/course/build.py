"""``minis2s course build OUT``: the student edition, the solutions and the autograder.

* ``OUT/student/``: an installable copy of the project in which every chosen piece is a
  stub (signature, shapes, forward equations; raises ``NotImplementedError`` naming
  the assignment and what to read), the derivations are cut from the docstrings of the
  pieces' modules, the fast paths that compute the same gradients are rewritten as
  loops over the student's step functions, the derivation pages and lessons are
  withheld or replaced by the assignments, the tests that spell out an answer removed;
  ``ASSIGNMENTS.md`` is its front page.
* ``OUT/solutions/``: the same edition with every piece written (the library's own
  source) and the assignment notebooks completed: a full-mark submission.
* ``OUT/autograder/``: ``grade.py``, ``runner.py``, the hidden checks, the manifest,
  the reference source of the pieces and the golden values, computed here by running
  the hidden checks on ``OUT/solutions``.

Offline; takes seconds (the golden values are most of it).
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from minis2s.course import catalog, editions, handout, source
from minis2s.course.catalog import HERE, Assignment, Course

AUTOGRADER_SRC = HERE / "autograder"
AUTOGRADER_FILES = ("grade.py", "runner.py", "hidden.py")
TOP_LEVEL = ("minis2s", "tests", "notebooks", "docs", "benchmarks", ".ci", "setup.cfg",
             "pyproject.toml", "README.md", "LICENSE", ".gitignore")
IGNORE = ("__pycache__", "*.pyc", "*.pyo", "*.egg-info", ".pytest_cache", ".ruff_cache",
          ".ipynb_checkpoints", "_build", ".DS_Store")
GENERATED = ("docs/notebooks", "docs/api/generated")      # made by the docs build


class BuildError(Exception):
    """The kit cannot be built as asked (a bad OUT, a piece the reference fails)."""


@dataclass
class BuildReport:
    out: Path
    assignments: tuple[str, ...]
    seconds: float = 0.0
    golden_seconds: float = 0.0
    stubs: list[str] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)


def project_root() -> Path:
    """The source checkout this package runs from (it must hold tests/, docs/ ...)."""
    root = HERE.parents[1]
    missing = [p for p in ("setup.cfg", "tests", "docs", "notebooks") if not (root / p).exists()]
    if missing:
        raise BuildError(f"course build needs a source checkout of minis2s; {root} lacks "
                         f"{', '.join(missing)}")
    return root


def copy_project(root: Path, dest: Path) -> None:
    ignore = shutil.ignore_patterns(*IGNORE)
    dest.mkdir(parents=True)
    for name in TOP_LEVEL:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dest / name)
    for rel in GENERATED:
        shutil.rmtree(dest / rel, ignore_errors=True)


def _withhold_order(specs: list[tuple[str, Assignment]]) -> list[tuple[str, Assignment]]:
    """Sections before whole pages (a page withheld first has no sections left); once each."""
    seen, out = set(), []
    for spec, a in sorted(specs, key=lambda s: ("#" not in s[0], s[0])):
        if spec not in seen:
            seen.add(spec)
            out.append((spec, a))
    return out


def make_edition(root: Path, chosen: tuple[Assignment, ...], student: bool,
                 report: BuildReport) -> None:
    """Turn the copy at ``root`` into the student (or solutions) edition."""
    editions.drop_course(root)
    for spec in dict.fromkeys(s for a in chosen for s in a.rewrite):
        written = editions.rewrite(root, spec)
        if student:
            report.rewritten += written
    for spec in dict.fromkeys(t for a in chosen for t in a.remove_tests):
        editions.remove_tests(root, spec)
    for a in chosen:
        editions.place_notebook(root, a, student)
    if student:
        for a in chosen:
            for piece in a.pieces:
                editions.stub_piece(root, piece, a)
                report.stubs.append(piece.function)
        for module in dict.fromkeys(p.module for a in chosen for p in a.pieces):
            editions.cut_docstrings(root, module)
        owners = {m: a for a in reversed(chosen) for m in a.withhold_code}
        for module in dict.fromkeys(m for a in chosen for m in a.withhold_code):
            report.withheld += editions.withhold_code(root, module, owners[module])
        specs = [(w, a) for a in chosen for w in a.withhold]
        for spec, owner in _withhold_order(specs):
            editions.withhold(root, spec, owner)
    editions.drop_missing_includes(root)
    handout.write_front_page(root, chosen, student)
    for cache in root.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def _grade_module():
    spec = importlib.util.spec_from_file_location("minis2s_course_grade",
                                                  AUTOGRADER_SRC / "grade.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_sources(solutions: Path, chosen: tuple[Assignment, ...],
                      rewritten: list[str]) -> list[dict]:
    """The reference definitions the grader puts back around the piece under test."""
    specs = []
    for a in chosen:
        for p in a.pieces:
            specs += [p.function] + ([p.partner] if p.partner else [])
    specs += rewritten
    out = []
    for spec in dict.fromkeys(specs):
        module, qualname = spec.split(":", 1)
        text = (solutions / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
        out.append({"function": spec, "source": source.def_source(text, qualname)})
    return out


def manifest(course: Course, chosen: tuple[Assignment, ...], withheld: list[str]) -> dict:
    pieces = {}
    for a in chosen:
        for p in a.pieces:
            pieces[p.key] = {
                "assignment": a.id, "function": p.function, "partner": p.partner,
                "label": f"{p.module.rsplit('.', 1)[-1]}.{p.qualname}", "points": p.points,
                "checks": [{"name": c.name, "points": c.points, "hidden": c.hidden,
                            "about": c.about} for c in p.checks]}
    return {"timeout": course.timeout, "output_cap": course.output_cap,
            "assignments": {a.id: {"title": a.title, "points": a.points} for a in chosen},
            "pieces": pieces, "withheld": withheld}


def make_autograder(out: Path, course: Course, chosen: tuple[Assignment, ...],
                    report: BuildReport, jobs: int | None) -> float:
    """Write ``OUT/autograder`` and record the golden values; returns the seconds spent."""
    ag = out / "autograder"
    (ag / "golden").mkdir(parents=True)
    for name in AUTOGRADER_FILES:
        shutil.copy2(AUTOGRADER_SRC / name, ag / name)
    info = manifest(course, chosen, report.withheld)
    (ag / "manifest.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    refs = reference_sources(out / "solutions", chosen, report.rewritten)
    (ag / "reference.json").write_text(json.dumps(refs, indent=1), encoding="utf-8")
    handout.write_autograder_files(ag, info)
    grade = _grade_module()
    start = time.perf_counter()
    jobs = jobs or max(1, min(4, os.cpu_count() or 1))
    keys = list(info["pieces"])
    groups = [keys[i::jobs] for i in range(jobs) if keys[i::jobs]]    # one process per group
    with concurrent.futures.ThreadPoolExecutor(len(groups)) as pool:
        futures = [pool.submit(grade.run_piece, ag, out / "solutions", g[0],
                               info["pieces"][g[0]], 600.0, course.output_cap, True,
                               tuple(g[1:])) for g in groups]
        reports = {}
        for group, future in zip(groups, futures):
            report = future.result()
            if "reports" not in report:
                raise BuildError(f"recording the golden values of {', '.join(group)} failed: "
                                 f"{report['checks'][0]['error']}\n"
                                 f"{report['checks'][0]['output'][-2000:]}")
            reports.update(report["reports"])
    bad = [f"{k} {c['name']}: {c['error'] or c['problems']}\n{c.get('output', '')[-2000:]}"
           for k, r in reports.items() for c in r["checks"] if c["error"] or c["problems"]]
    if bad:
        raise BuildError("the reference fails its own hidden checks:\n  " + "\n  ".join(bad))
    return time.perf_counter() - start


def build(out: str | Path, assignments: list[str] | None = None, force: bool = False,
          course: Course | None = None, jobs: int | None = None) -> BuildReport:
    """Write ``OUT/student``, ``OUT/solutions`` and ``OUT/autograder`` (see the module
    docstring) for ``assignments`` (ids such as ``["A1", "A3"]``; all when ``None``)."""
    start = time.perf_counter()
    course = course or catalog.load()
    chosen = course.select(assignments)
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()):
        if not force:
            raise BuildError(f"{out} exists and is not empty (pass --force to replace it)")
        shutil.rmtree(out)
    root = project_root()
    if any(root / name in (out, *out.parents) for name in TOP_LEVEL):
        raise BuildError(f"write the kit outside the folders it copies ({out})")
    report = BuildReport(out, tuple(a.id for a in chosen))
    for name, student in (("student", True), ("solutions", False)):
        copy_project(root, out / name)
        make_edition(out / name, chosen, student, report)
    report.golden_seconds = make_autograder(out, course, chosen, report, jobs)
    report.seconds = time.perf_counter() - start
    return report
