"""Recurrent cells: one step and a whole sequence, forward and backward.

``rnn`` is the article's plain recurrence (encoder ``h_t = f(W_h x_t + W_c h_{t-1} +
b)``, its decoder ``o_t = g(W_o h_t + W_s s_{t-1} + b)`` in ``rnn_decoder``); the
LSTM and GRU cells live beside it. Every cell module exposes the same *cell
protocol* (``docs/conventions.md``): ``STATE_NAMES``, ``GATES``, ``TORCH_NAMES``,
``param_shapes``, ``init_params``, ``step_forward``, ``step_backward``,
``sequence_forward``, ``sequence_backward``, so stacks and models can take any of them.

This module is the registry of cell kinds, the one list the stack, the model and the
command line read (:data:`CELL_KINDS`, re-exported by :mod:`minis2s.cells.stack`).
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

CELL_KINDS = ("rnn", "lstm", "gru")
"""The cell kinds, each the name of its module in this package."""

CELL_ALIASES = {"seed": "rnn"}
"""Older spellings still accepted on input (``--cell seed``, old checkpoints and
scripts), each -> its kind. Outputs always use the kind."""


def canonical_cell(name: Any, what: str = "cell") -> str:
    """The kind ``name`` stands for: a kind itself, or the kind of an alias.

    ``canonical_cell("seed") == "rnn"``; an unknown name raises ``ValueError`` naming
    the choices, a non-string a ``TypeError``.
    """
    choices = ", ".join(CELL_KINDS)
    aliases = ", ".join(f"{alias!r} for {kind!r}" for alias, kind in CELL_ALIASES.items())
    if not isinstance(name, str):
        raise TypeError(f"{what}: expected a cell name, one of {choices}; "
                        f"got {type(name).__name__} {name!r}")
    if name in CELL_KINDS:
        return name
    if name in CELL_ALIASES:
        return CELL_ALIASES[name]
    raise ValueError(f"{what}: expected one of {choices} (or the alias {aliases}), "
                     f"got {name!r}")


def get_cell(kind: str) -> ModuleType:
    """The cell module for ``kind`` (``"rnn" | "lstm" | "gru"``, or an alias), imported
    on first use.

    Every cell module follows the cell protocol (``STATE_NAMES``, ``GATES``,
    ``TORCH_NAMES``, ``param_shapes``, ``init_params``, ``step_forward``,
    ``step_backward``, ``sequence_forward``, ``sequence_backward``).
    """
    kind = canonical_cell(kind)
    name = f"{__name__}.{kind}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            raise ImportError(
                f"cell {kind!r} asked for, but its module {name} is missing from this install"
            ) from exc
        raise


def __getattr__(name: str) -> ModuleType:
    """``from minis2s.cells import seed`` (an alias) gives the module of its kind, and
    registers it so that ``import minis2s.cells.seed`` works from then on."""
    if name in CELL_ALIASES:
        module = get_cell(name)
        sys.modules[f"{__name__}.{name}"] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
