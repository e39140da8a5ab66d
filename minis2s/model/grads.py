"""Summing a parameter's gradient over the places it is used (every decoder step, every
reading of the encoder's states)."""

from __future__ import annotations

from typing import Any


class GradSum(dict):
    """``{name: gradient}``, where :meth:`add` sums a name's arrays as they come.

    The first array of a name is kept as it was given (never written to: it may be a
    view its producer still holds); the second is added into a new array, which owns
    its memory, so that every later one is added in place -- no new array per step.
    The sum runs in the order the arrays come, so the result is bitwise that of
    ``g_1 + g_2 + ...``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._owned: set[str] = set()

    def add(self, grads: dict[str, Any]) -> None:
        for name, g in grads.items():
            if name not in self:
                self[name] = g
            elif name in self._owned:
                self[name] += g
            else:
                self[name] = self[name] + g
                self._owned.add(name)
