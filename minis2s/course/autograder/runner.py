"""Run one piece's hidden checks against a submission, in a process of its own.

Started by ``grade.py`` (``python -I -S runner.py ...``, one process per piece, with a
time limit and an output cap), never imported by the package. Everything it needs is
read from the autograder folder *before* any of the submission's code runs: the
manifest, the hidden checks (``hidden.py``), the golden values and the reference
source of the other pieces. Then:

1. the submission's ``minis2s`` is imported (its folder first on ``sys.path``; the
   instructor's installed copy is not on the path);
2. every *other* piece of the kit, with its forward partner and the rewritten fast
   paths, is replaced by the reference (so a mistake in one piece costs that piece
   only); the piece under test and its forward partner stay the student's;
3. an audit hook refuses to open files in the autograder, the solutions or the
   instructor's package, and to start processes; ``print`` output is capped;
4. each check runs; ``SystemExit`` and every other exception fail that check only;
5. the result (with the nonce the grader wrote to stdin, so printed text cannot pass
   for it) goes to the result file.

In ``--record`` mode (at build time, on the solutions edition) the values the checks
produce are saved as the golden values instead of compared.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import sys
import traceback

TOL = 1e-7              # gradient checks: relative error (float64, central differences)
GOLDEN_TOL = 1e-7       # golden values: relative error against the reference
STEP = 1e-5


class CappedWriter(io.TextIOBase):
    """A text stream that keeps the first ``cap`` characters and counts the rest."""

    def __init__(self, cap: int):
        self.cap, self.parts, self.size, self.dropped = cap, [], 0, 0

    def write(self, s: str) -> int:
        s = str(s)
        room = self.cap - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(len(s), room)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def text(self) -> str:
        more = f"\n... ({self.dropped} more characters cut)" if self.dropped else ""
        return "".join(self.parts) + more


class Failure(Exception):
    """A check's verdict: what was wrong."""


class Ctx:
    """What a hidden check sees: the piece, its forward partner, the submission's modules,
    and the recorders ``pair`` (golden values + gradient check), ``value`` and ``expect``."""

    def __init__(self, np, piece_fn, forward_fn, check: str):
        self.np, self.piece, self.forward, self.check = np, piece_fn, forward_fn, check
        self.values: dict = {}
        self.problems: list[str] = []
        self.notes: list[str] = []

    def mod(self, name: str):
        return importlib.import_module(name)

    def rng(self, seed: int):
        return self.np.random.default_rng(seed)

    def value(self, name: str, array) -> None:
        """Record a value; graded against the reference's value of the same name."""
        self.values[f"{self.check}/{name}"] = self.np.array(array)

    def expect(self, ok: bool, message: str) -> None:
        if not ok:
            self.problems.append(message)

    def pair(self, name: str, forward, backward, arrays: dict, seed: int = 7,
             tol: float = TOL, max_entries: int | None = None) -> None:
        """Golden outputs and gradients of ``forward``/``backward`` and a float64
        central-difference check of every gradient ``backward`` returns, against the
        projection ``L = sum_k <G_k, out_k>`` (``G`` seeded); ``max_entries`` checks that
        many entries of each array, drawn with a seeded generator (all when ``None``)."""
        np = self.np
        out, cache = forward(arrays)
        outs = out if isinstance(out, tuple) else (out,)
        rng = np.random.default_rng(seed)
        G = tuple(None if o is None else rng.standard_normal(np.shape(o)) for o in outs)
        for k, o in enumerate(outs):
            if o is not None:
                self.value(f"{name}/out{k}", o)
        dout = G if isinstance(out, tuple) else G[0]
        before = [None if g is None else g.copy() for g in G]
        grads = backward(dout, cache)
        self.expect(all(g is None or np.array_equal(g, b) for g, b in zip(G, before)),
                    f"{name}: the backward pass modified the gradient it was handed")
        if not isinstance(grads, dict):
            raise Failure(f"{name}: backward returned {type(grads).__name__}, expected arrays")

        def loss() -> float:
            o2 = forward(arrays)[0]
            o2 = o2 if isinstance(o2, tuple) else (o2,)
            return float(sum(np.sum(g * o) for g, o in zip(G, o2) if g is not None))

        for key in sorted(arrays):
            if key not in grads:
                continue
            grad, x = grads[key], arrays[key]
            if grad is None or np.shape(grad) != np.shape(x):
                self.problems.append(f"{name}: gradient of {key} has shape "
                                     f"{None if grad is None else np.shape(grad)}, "
                                     f"expected {np.shape(x)}")
                continue
            self.value(f"{name}/d{key}", grad)
            numeric = np.zeros(x.shape)
            entries = list(np.ndindex(*x.shape))
            scale = 0.0                   # sampled entries: measured against the whole gradient
            if max_entries is not None and len(entries) > max_entries:
                picked = rng.choice(len(entries), size=max_entries, replace=False)
                entries = [entries[i] for i in sorted(picked)]
                scale = float(np.linalg.norm(grad))
                grad = np.where(self._mask(x.shape, entries), grad, 0.0)
            for idx in entries:
                old = float(x[idx])
                x[idx] = old + STEP
                plus = loss()
                x[idx] = old - STEP
                minus = loss()
                x[idx] = old
                numeric[idx] = (plus - minus) / (2 * STEP)
            err = rel_error(np, grad, numeric, scale)
            self.notes.append(f"{name}: d{key} relative error {err:.1e}")
            if not err <= tol:
                self.problems.append(f"{name}: gradient check of d{key} failed, relative error "
                                     f"{err:.1e} (tolerance {tol:.0e})")


    def _mask(self, shape, entries):
        m = self.np.zeros(shape, dtype=bool)
        for idx in entries:
            m[idx] = True
        return m


def rel_error(np, a, b, scale: float = 0.0) -> float:
    """``||a - b|| / (||a|| + ||b||)``; with ``scale``, ``||a - b|| / (scale + ||b||)`` (the
    norm of the whole gradient when only some entries were compared)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    denom = (scale or np.linalg.norm(a)) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / max(denom, 1e-300))


def _resolve(spec: str):
    module, qualname = spec.split(":", 1)
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def inject(reference: list, skip: set) -> None:
    """Replace every reference definition not in ``skip`` (``module:qualname``) in the
    submission's modules, and rebind the names other modules imported."""
    for entry in reference:
        spec = entry["function"]
        if spec in skip:
            continue
        module_name, qualname = spec.split(":", 1)
        module = importlib.import_module(module_name)
        *owner_path, name = qualname.split(".")
        owner = module
        for part in owner_path:
            owner = getattr(owner, part)
        old = getattr(owner, name, None)
        local: dict = {}
        exec(compile(entry["source"], f"<reference {spec}>", "exec"), module.__dict__, local)
        setattr(owner, name, local[name])
        if old is None or owner is not module:
            continue
        for other in list(sys.modules.values()):
            if getattr(other, "__name__", "").startswith("minis2s"):
                for attr, value in list(vars(other).items()):
                    if value is old:
                        setattr(other, attr, local[name])


def guard(forbidden: list[str]) -> None:
    """Refuse to open files under ``forbidden`` folders, and to start processes."""
    roots = tuple(os.path.realpath(p) + os.sep for p in forbidden if p)
    spawn = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
             "os.fork", "os.forkpty", "pty.spawn")

    def hook(event: str, args: tuple) -> None:
        if event in spawn:
            raise PermissionError(f"the autograder does not let a submission run {event}")
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            path = os.fsdecode(args[0])
            real = os.path.realpath(path) + os.sep
            if real.startswith(roots):
                raise PermissionError(f"the autograder does not let a submission open {path}")

    sys.addaudithook(hook)


def run_checks(np, hidden: dict, piece: dict, cap: int) -> list[dict]:
    piece_fn = _resolve(piece["function"])
    forward_fn = _resolve(piece["partner"]) if piece.get("partner") else None
    results = []
    for check in piece["checks"]:
        ctx = Ctx(np, piece_fn, forward_fn, check["name"])
        out = CappedWriter(cap)
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = out
        error = None
        try:
            hidden[check["hidden"]](ctx)
        except Failure as exc:
            error = str(exc)
        except SystemExit as exc:
            error = f"the submission called sys.exit({exc.code!r})"
        except NotImplementedError as exc:
            who = str(exc).split(" is yours to write", 1)[0].strip()
            error = f"not implemented ({who})" if who else "not implemented"
        except BaseException as exc:        # noqa: BLE001  (any failure is the check's)
            tb = traceback.extract_tb(exc.__traceback__)
            where = next((f"{f.filename}:{f.lineno} in {f.name}" for f in reversed(tb)
                          if "minis2s" in f.filename), "")
            error = f"{type(exc).__name__}: {exc}" + (f" ({where})" if where else "")
        finally:
            sys.stdout, sys.stderr = saved
        if out.dropped and not error:
            error = f"printed more than {cap} characters (a flood of output loses the piece)"
        results.append({"name": check["name"], "error": error, "problems": ctx.problems,
                        "notes": ctx.notes, "values": ctx.values, "output": out.text()})
    return results


def compare(np, results: list[dict], golden: dict) -> None:
    """Turn the values of each check into problems where they differ from ``golden``."""
    for res in results:
        if res["error"]:
            continue
        names = [k for k in golden if k.split("/", 1)[0] == res["name"]]
        for key in names:
            want = golden[key]
            got = res["values"].get(key)
            short = key.split("/", 1)[1]
            if got is None:
                res["problems"].append(f"{short}: not computed")
            elif np.shape(got) != np.shape(want):
                res["problems"].append(f"{short}: shape {np.shape(got)}, expected "
                                       f"{np.shape(want)}")
            elif want.dtype.kind in "iub":
                if not np.array_equal(got, want):
                    res["problems"].append(f"{short}: differs from the reference")
            else:
                err = rel_error(np, got, want)
                if not (np.all(np.isfinite(got)) and err <= GOLDEN_TOL):
                    res["problems"].append(f"{short}: differs from the reference value "
                                           f"(relative error {err:.1e})")


def _grade_one(np, root: str, args, manifest: dict, hidden: dict, reference: list,
               key: str) -> list[dict]:
    """The checks of piece ``key``: compared with the golden values, or (``--record``) their
    values kept for saving."""
    piece = manifest["pieces"][key]
    golden = {}
    if not args.record:
        with np.load(os.path.join(root, "golden", f"{key}.npz")) as data:
            golden = {k: data[k] for k in data.files}
    try:
        import minis2s
        where = os.path.realpath(os.path.dirname(minis2s.__file__))
        if not where.startswith(os.path.realpath(args.submission) + os.sep):
            raise ImportError(f"minis2s was imported from {where}, not from the submission")
        if not args.record:
            inject(reference, {piece["function"], piece.get("partner")})
            guard(args.forbid)
        checks = run_checks(np, hidden, piece, args.cap)
    except BaseException as exc:            # noqa: BLE001  (the package does not even import)
        msg = f"{type(exc).__name__}: {exc}"
        checks = [{"name": c["name"], "error": msg, "problems": [], "notes": [],
                   "values": {}, "output": ""} for c in piece["checks"]]
    if args.record:
        values = {k: v for res in checks for k, v in res["values"].items()}
        np.savez(os.path.join(root, "golden", f"{key}.npz"), **values)
    else:
        compare(np, checks, golden)
    for res in checks:
        res["values"] = sorted(res["values"])
    return checks


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--autograder", required=True)
    p.add_argument("--submission", required=True)
    p.add_argument("--piece", action="append", required=True,
                   help="the piece to grade (several only with --record)")
    p.add_argument("--result", required=True)
    p.add_argument("--record", action="store_true")
    p.add_argument("--site", action="append", default=[])
    p.add_argument("--forbid", action="append", default=[])
    p.add_argument("--cap", type=int, default=20000)
    args = p.parse_args()
    if len(args.piece) > 1 and not args.record:
        p.error("grade one piece per process")
    try:                    # a flood written past print() stops here (SIGXFSZ), not on disk
        import resource
        resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 20, 8 << 20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
    nonce = sys.stdin.readline().strip()
    root = args.autograder
    sys.path += args.site           # NumPy first, from site-packages only ...
    import numpy as np
    import numpy.linalg  # noqa: F401
    import numpy.random  # noqa: F401

    with open(os.path.join(root, "manifest.json"), encoding="utf-8") as fh:
        manifest = json.load(fh)
    hidden: dict = {"Failure": Failure}
    with open(os.path.join(root, "hidden.py"), encoding="utf-8") as fh:
        exec(compile(fh.read(), os.path.join(root, "hidden.py"), "exec"), hidden)
    with open(os.path.join(root, "reference.json"), encoding="utf-8") as fh:
        reference = json.load(fh)
    sys.path[:0] = [os.path.realpath(args.submission)]     # ... then the submission's minis2s
    reports = {key: {"piece": key, "checks": _grade_one(np, root, args, manifest, hidden,
                                                        reference, key)}
               for key in args.piece}
    report = {"nonce": nonce, **reports[args.piece[0]]} if not args.record else {
        "nonce": nonce, "reports": reports}
    with open(args.result, "w", encoding="utf-8") as fh:
        json.dump(report, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
