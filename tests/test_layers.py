"""The import layering: every module of ``minis2s`` imports only from lower layers.

``LAYERS`` below is the one statement of the layering: ``docs/conventions.md``
includes it, and this test reads every ``import`` of the package (also the ones inside
functions) and fails on an import that goes sideways or up, or on a module that has no
layer yet. A new top-level module or package joins by getting a line here.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "minis2s"

# --- layers (lowest first; a module imports only from layers below its own) ---
LAYERS = {
    0: ("devicesim", "atomic", "threads"),        # no minis2s imports beyond this layer
    1: ("backend", "data", "checkpoint", "plot"),  # the array switch; host-only data
    2: ("gradcheck", "ops", "optim", "metrics"),  # stateless forward/backward pairs
    3: ("cells",),                                # rnn, lstm, gru; stacks of them
    4: ("model", "shards"),                       # seq2seq; batch shards of a stack
    5: ("decode", "checks"),                      # greedy/beam; the gradient-check suite
    6: ("train", "bench_harness"),                # the loop, evaluation; timing harness
    7: ("bench", "bench_model", "course"),        # benchmarks, course kit
    8: ("cli",),                                  # the minis2s command
    9: ("__main__",),                             # python -m minis2s
}
# --- end of layers ---

RANK = {name: rank for rank, names in LAYERS.items() for name in names}


def _imports(path: Path) -> set[str]:
    """The top-level ``minis2s`` modules that ``path`` imports (anywhere in the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "minis2s":   # from minis2s import backend, ...
                names = [f"minis2s.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "minis2s" and len(parts) > 1:
                found.add(parts[1])
    return found


def _owner(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def test_every_module_has_a_layer():
    owners = {_owner(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    missing = sorted(owners - set(RANK))
    assert not missing, f"modules without a layer in LAYERS: {missing}"


def test_imports_only_flow_down():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        owner = _owner(path)
        if owner == "__init__":
            continue
        for target in sorted(_imports(path) - {owner}):
            if target == "__version__" or target not in RANK:
                continue          # the version string; unknown targets fail the test above
            if RANK[target] >= RANK[owner]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)} ({owner}, layer "
                             f"{RANK[owner]}) imports {target} (layer {RANK[target]})")
    assert not wrong, "imports that do not flow down:\n" + "\n".join(wrong)


def test_the_checker_sees_an_upward_import(tmp_path):
    """The test can fail: an ops module importing the model is caught."""
    fake = tmp_path / "bad.py"
    fake.write_text("def f():\n    from minis2s.model import Seq2Seq\n")
    assert _imports(fake) == {"model"} and RANK["model"] > RANK["ops"]
