"""Grade a submission of the minis2s course kit, piece by piece.

    python grade.py SUBMISSION [--json results.json] [--timeout S] [--jobs N]

(``minis2s course grade`` runs this same file from the autograder folder.) For each
piece listed in ``manifest.json`` one process (``runner.py``) runs that piece's hidden
checks against the submission's ``minis2s`` package, under a time limit, with its
output capped: a piece that raises, hangs, exits, prints a flood or reaches for the
solutions loses its own points and nothing else. Prints a table (assignment, piece,
check, points, what failed) and writes Gradescope's ``results.json``.

Standard library only (the pieces' processes need NumPy); this folder is the whole
autograder -- zip it for Gradescope (``run_autograder`` is its entry point).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import secrets
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def find_package(submission: Path) -> Path:
    """The folder holding the submission's ``minis2s/`` (itself or one a few levels down)."""
    submission = Path(submission).resolve()
    if (submission / "minis2s" / "__init__.py").exists():
        return submission
    found = sorted(p.parent.parent for p in submission.glob("*/minis2s/__init__.py"))
    found += sorted(p.parent.parent for p in submission.glob("*/*/minis2s/__init__.py"))
    if not found:
        raise FileNotFoundError(f"no minis2s/ package in {submission}")
    return found[0]


def site_dirs() -> list[str]:
    """Where the pieces' processes find NumPy (they start without ``site``)."""
    dirs = list(site.getsitepackages())
    user = site.getusersitepackages()
    if isinstance(user, str):
        dirs.append(user)
    dirs += [p for p in sys.path if p.rstrip("/").endswith(("site-packages", "dist-packages"))]
    return [d for i, d in enumerate(dirs) if d not in dirs[:i] and os.path.isdir(d)]


def forbidden(autograder: Path, package_root: Path) -> list[str]:
    """Folders a submission may not read: the autograder, the solutions next to it, the
    instructor's installed minis2s -- unless the submission itself lives there."""
    candidates = [autograder, autograder.parent / "solutions"]
    try:
        import importlib.util
        spec = importlib.util.find_spec("minis2s")
        if spec and spec.origin:
            candidates.append(Path(spec.origin).resolve().parent)
    except (ImportError, ValueError):
        pass
    root = str(package_root.resolve()) + os.sep
    out = []
    for c in candidates:
        c = c.resolve()
        if c.exists() and not root.startswith(str(c) + os.sep):
            out.append(str(c))
    return out


def run_piece(autograder: Path, package_root: Path, key: str, piece: dict, timeout: float,
              cap: int, record: bool = False, more: tuple[str, ...] = ()) -> dict:
    """Run one piece's checks in a fresh process; return its report. (``record``: save the
    values as the golden ones, for ``key`` and the pieces in ``more``, in one process;
    the report then holds ``"reports"``, one per piece.)"""
    tmp = Path(tempfile.mkdtemp(prefix="minis2s-grade-"))
    result, log = tmp / "result.json", tmp / "output.txt"
    nonce = secrets.token_hex(16)
    cmd = [sys.executable, "-I", "-S", "-B", str(autograder / "runner.py"),
           "--autograder", str(autograder), "--submission", str(package_root),
           "--result", str(result), "--cap", str(cap)]
    cmd += [f"--piece={k}" for k in (key, *more)]
    cmd += [f"--site={d}" for d in site_dirs()]
    if record:
        cmd.append("--record")
    else:
        cmd += [f"--forbid={d}" for d in forbidden(autograder, package_root)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp),
           "MINIS2S_BACKEND": "numpy", "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0",
           "PYTHONDONTWRITEBYTECODE": "1",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    start = time.perf_counter()
    timed_out = False
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                                cwd=tmp, env=env, start_new_session=True)
        try:
            proc.stdin.write((nonce + "\n").encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    seconds = time.perf_counter() - start
    with open(log, "rb") as fh:
        tail = fh.read(cap).decode("utf-8", errors="replace")
    report = None
    if not timed_out and result.exists():
        try:
            report = json.loads(result.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            report = None
        if report is not None and report.get("nonce") != nonce:
            report = None
    shutil.rmtree(tmp, ignore_errors=True)
    if report is None:
        why = (f"ran past the time limit of {timeout:g} s and was stopped" if timed_out else
               f"the process ended without a result (exit status {proc.returncode})")
        checks = [{"name": c["name"], "error": why, "problems": [], "notes": [], "output": tail}
                  for c in piece["checks"]]
        report = {"piece": key, "checks": checks}
    report["seconds"] = seconds
    return report


def grade(submission: str | Path, autograder: str | Path = HERE, pieces: list[str] | None = None,
          timeout: float | None = None, jobs: int | None = None) -> dict:
    """Grade ``submission``; returns ``{"rows": [...], "score", "max_score", "seconds"}``."""
    autograder = Path(autograder).resolve()
    manifest = json.loads((autograder / "manifest.json").read_text(encoding="utf-8"))
    root = find_package(Path(submission))
    keys = [k for k in manifest["pieces"] if not pieces or k in pieces
            or manifest["pieces"][k]["assignment"] in pieces]
    limit = float(timeout or manifest["timeout"])
    jobs = jobs or max(1, min(4, os.cpu_count() or 1))
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        futures = {k: pool.submit(run_piece, autograder, root, k, manifest["pieces"][k], limit,
                                  int(manifest["output_cap"])) for k in keys}
        reports = {k: f.result() for k, f in futures.items()}
    rows = []
    for k in keys:
        piece, report = manifest["pieces"][k], reports[k]
        by_name = {c["name"]: c for c in report["checks"]}
        for check in piece["checks"]:
            res = by_name.get(check["name"], {"error": "not run", "problems": []})
            failed = ([res["error"]] if res.get("error") else []) + list(res.get("problems", []))
            rows.append({"assignment": piece["assignment"], "piece": piece["label"],
                         "check": check["name"], "max_score": check["points"],
                         "score": 0.0 if failed else check["points"], "failed": failed,
                         "output": res.get("output", ""), "seconds": report["seconds"]})
    return {"rows": rows, "score": sum(r["score"] for r in rows),
            "max_score": sum(r["max_score"] for r in rows),
            "seconds": time.perf_counter() - start}


def table(results: dict, width: int = 72) -> str:
    """The grade table: assignment, piece, check, points, what failed."""
    head = ("assignment", "piece", "check", "points", "what failed")
    rows = [head] + [
        (r["assignment"], r["piece"], r["check"], f"{r['score']:g}/{r['max_score']:g}",
         (r["failed"][0] if r["failed"] else "")[:width]) for r in results["rows"]]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4]
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 11)
    lines.append(f"\ntotal {results['score']:g} / {results['max_score']:g} "
                 f"({results['seconds']:.1f} s)")
    return "\n".join(line.rstrip() for line in lines)


def gradescope(results: dict) -> dict:
    """Gradescope's autograder ``results.json``."""
    tests = []
    for r in results["rows"]:
        text = "\n".join(r["failed"]) if r["failed"] else "passed"
        if r["output"]:
            text += "\n\nprinted:\n" + r["output"]
        tests.append({"name": f"{r['assignment']} {r['piece']}: {r['check']}",
                      "score": r["score"], "max_score": r["max_score"], "output": text,
                      "visibility": "visible"})
    return {"score": results["score"], "tests": tests,
            "execution_time": round(results["seconds"], 1),
            "output": f"{results['score']:g} / {results['max_score']:g} points"}


def main(argv: list[str] | None = None, autograder: Path = HERE) -> int:
    p = argparse.ArgumentParser(prog="grade", description=__doc__.split("\n\n")[0])
    p.add_argument("submission", help="the submission's folder (it holds minis2s/)")
    p.add_argument("--json", metavar="RESULTS", help="write Gradescope's results.json here")
    p.add_argument("--timeout", type=float, help="seconds per piece (default: the manifest's)")
    p.add_argument("--jobs", type=int, help="pieces graded at once (default: up to 4)")
    p.add_argument("--only", nargs="*", metavar="ID",
                   help="grade only these assignments (A1 ...) or pieces")
    args = p.parse_args(argv)
    try:
        results = grade(args.submission, autograder, args.only, args.timeout, args.jobs)
    except FileNotFoundError as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    print(table(results))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(gradescope(results), indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
