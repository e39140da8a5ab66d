"""Template: the attention reading without the fast decoder's arranged memory.

``rewrite = ["minis2s.model.contexts.attention:no_fast_decoder"]`` in assignments.toml
replaces :meth:`AttentionContext.step_memory` in the student edition so that it returns
``None``: the model then trains an attention decoder step by step, through the student's
step functions, reading and attention backward, instead of the fast attention decoder
(whose backward computes the same gradients and is withheld, ``withhold_code``).
Decoding still works (the fast decoder reads ``step_forward`` at every step).

This file is a template, not a module of the package: it is read as text.
"""

from __future__ import annotations

from typing import Any

REPLACES = ("AttentionContext.step_memory",)
ADDS = ()
NEEDS = ("AttentionContext",)


class AttentionContext:
    def step_memory(self, memory: Any, params: dict[str, Any]) -> None:
        """``None`` in the student edition: the model decodes attention step by step,
        through the student's functions (the fast attention decoder computes the same
        gradients, so it is withheld while they are an assignment)."""
        return None
