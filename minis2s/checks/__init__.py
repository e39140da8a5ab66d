"""The gradient-check suite: every forward/backward pair of the package, on small float64 inputs.

Each family module (``minis2s.checks.ops``, ``...cells`` ...) defines ``CASES``, a
list of :class:`GradCase`. ``minis2s gradcheck`` prints them as one table and the
test suite runs each case (tests/test_gradcheck_suite.py), so a piece added to a
family is checked in both places by construction.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from minis2s.gradcheck import DEFAULT_STEP, DEFAULT_TOL, CheckResult, check_pair

# One module per family; a family joins the suite by being listed here.
FAMILIES = ("ops", "rnn", "lstm", "gru", "stack", "attention", "model")


@dataclass(frozen=True)
class GradCase:
    """A piece to check: ``build(rng)`` returns ``(forward, backward, arrays)`` for
    :func:`minis2s.gradcheck.check_pair` (arrays created on the active backend)."""

    piece: str
    build: Callable[[np.random.Generator], tuple[Callable, Callable, dict[str, Any]]]
    tol: float = DEFAULT_TOL
    max_entries: int | None = None   # sample this many entries per array (None: all)
    h: float = DEFAULT_STEP          # the central difference's step

    def run(self, seed: int = 0) -> list[CheckResult]:
        """The case's rows; one ``not implemented`` row when a function it runs raises
        ``NotImplementedError`` (a course's student edition: a piece left to write)."""
        rng = np.random.default_rng(seed)
        try:
            forward, backward, arrays = self.build(rng)
            return check_pair(self.piece, forward, backward, arrays, rng, tol=self.tol,
                              max_entries=self.max_entries, h=self.h)
        except NotImplementedError as exc:
            who = str(exc).split(" is yours to write", 1)[0].strip()
            note = f"not implemented ({who})" if who else "not implemented"
            return [CheckResult(self.piece, note, float("nan"), self.tol, note=note)]


def all_cases() -> Iterator[GradCase]:
    """Every registered case, family by family (families not written yet are skipped)."""
    for family in FAMILIES:
        try:
            module = importlib.import_module(f"minis2s.checks.{family}")
        except ModuleNotFoundError as exc:
            if exc.name == f"minis2s.checks.{family}":
                continue
            raise
        yield from module.CASES
