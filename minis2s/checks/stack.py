"""Gradient checks for stacks of cells (minis2s.cells.stack), float64, tolerance 1e-7.

For each cell kind: a 2-layer unidirectional stack with dropout, a 2-layer
bidirectional stack with dropout and a padding mask (also run as two batch shards,
:mod:`minis2s.shards`), a 2-layer stack started from zero states (no ``state0``: the
cells skip the product ``h_0 W_hh^T``), and a 2-layer decoder step with dropout --
every gradient checked, inputs and initial states included. The
dropout masks are random but *fixed*: each forward call gets a freshly seeded
generator, so the perturbed forwards of the central difference drop the same units.
"""

from __future__ import annotations

import numpy as np

from minis2s import backend, shards
from minis2s.cells.stack import (
    CELL_KINDS,
    StackConfig,
    get_cell,
    init_stack,
    merge_bidirectional_state,
    split_bidirectional_state,
    stack_backward,
    stack_forward,
    stack_step_backward,
    stack_step_forward,
)
from minis2s.checks import GradCase

T, N, D, H = 3, 2, 3, 2
DROPOUT_SEED = 7


def _dev(a):
    return backend.to_device(np.asarray(a, dtype=np.float64), dtype=np.float64)


def _arrays(rng, config, rows):
    arrays = {k: _dev(v) for k, v in init_stack(rng, config, np.float64).items()}
    for name in get_cell(config.cell).STATE_NAMES:
        arrays[f"{name}0"] = _dev(rng.standard_normal((rows, N, H)))
    return arrays


def _sequence_case(kind: str, bidirectional: bool, masked: bool, n_shards: int = 1,
                   zero_state: bool = False) -> GradCase:
    """A 2-layer stack over a sequence with dropout; with ``n_shards > 1`` run through
    :func:`minis2s.shards.stack_forward` (the batch in that many shards)."""
    forward_fn, backward_fn = ((stack_forward, stack_backward) if n_shards == 1 else
                               (shards.stack_forward, shards.stack_backward))
    extra = {} if n_shards == 1 else {"shards": n_shards}

    def build(rng):
        config = StackConfig(
            kind, D, H, num_layers=2, bidirectional=bidirectional, dropout=0.4
        )
        names = get_cell(kind).STATE_NAMES
        arrays = _arrays(rng, config, 2 * config.directions)
        if zero_state:
            arrays = {k: v for k, v in arrays.items() if k[:-1] not in names}
        arrays["x"] = _dev(rng.standard_normal((T, N, D)))
        # row 0 is full length, row 1 has 2 real tokens then padding
        mask = _dev([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]]) if masked else None

        def forward(a):
            state0 = None if zero_state else tuple(a[f"{n}0"] for n in names)
            hs, state_T, cache = forward_fn(
                a["x"], a, config, state0, mask=mask,
                train=True, rng=np.random.default_rng(DROPOUT_SEED), **extra,
            )
            return (hs, *state_T), cache

        def backward(dout, cache):
            dx, dstate0, grads = backward_fn(dout[0], dout[1:], cache)
            out = dict(grads, x=dx)
            if not zero_state:
                out.update({f"{n}0": g for n, g in zip(names, dstate0)})
            return out

        return forward, backward, arrays

    name = f"stack.{kind}.2layer{'.bidirectional' if bidirectional else ''}"
    name += ".mask" if masked else ""
    name += ".zero_state" if zero_state else ""
    name += f".{n_shards}shards" if n_shards > 1 else ""
    return GradCase(name + ".dropout", build)


def _step_case(kind: str) -> GradCase:
    def build(rng):
        config = StackConfig(kind, D, H, num_layers=2, dropout=0.4)
        names = get_cell(kind).STATE_NAMES
        arrays = _arrays(rng, config, 2)
        arrays["x"] = _dev(rng.standard_normal((N, D)))

        def forward(a):
            h, state, cache = stack_step_forward(
                a["x"], tuple(a[f"{n}0"] for n in names), a, config,
                train=True, rng=np.random.default_rng(DROPOUT_SEED),
            )
            return (h, *state), cache

        def backward(dout, cache):
            dx, dstate, grads = stack_step_backward(dout[0], dout[1:], cache)
            out = dict(grads, x=dx)
            out.update({f"{n}0": g for n, g in zip(names, dstate)})
            return out

        return forward, backward, arrays

    return GradCase(f"stack_step.{kind}.2layer.dropout", build)


def _merge_case() -> GradCase:
    def build(rng):
        arrays = {name: _dev(rng.standard_normal((4, N, H))) for name in ("h", "c")}

        def forward(a):
            return merge_bidirectional_state((a["h"], a["c"])), None

        def backward(dout, cache):
            dh, dc = split_bidirectional_state(dout)
            return {"h": dh, "c": dc}

        return forward, backward, arrays

    return GradCase("stack.merge_bidirectional_state", build)


CASES = [
    case
    for kind in CELL_KINDS
    for case in (
        _sequence_case(kind, bidirectional=False, masked=False),
        _sequence_case(kind, bidirectional=True, masked=True),
        _sequence_case(kind, bidirectional=True, masked=True, n_shards=2),
        _sequence_case(kind, bidirectional=False, masked=True, zero_state=True),
        _step_case(kind),
    )
] + [_merge_case()]
