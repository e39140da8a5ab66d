"""Every registered forward/backward pair passes its float64 gradient check, on every backend."""

from __future__ import annotations

import pytest

from minis2s.checks import all_cases

CASES = list(all_cases())


@pytest.mark.parametrize("case", CASES, ids=[c.piece for c in CASES])
def test_gradient_check(case, xp):
    results = case.run(seed=0)
    assert results, f"{case.piece}: no gradient was checked"
    failures = [f"{r.name}: {r.rel_error:.2e} > {r.tol:.0e}" for r in results if not r.passed]
    assert not failures, f"{case.piece}: " + "; ".join(failures)
