"""The encoder for decoding: the same stack, layer by layer, keeping nothing for a backward
pass.

:func:`~minis2s.cells.stack.stack_forward` keeps every layer's buffers (its gates, states,
the layer's input) for the backward pass, and the next layer reads this layer's output out
of them, so at the top of a deep encoder every layer's buffers are alive at once. Decoding
needs only the top layer's outputs and every layer's final state: here each layer runs
as a one-layer stack (the same cells, the same numbers), its output and final state are
copied out, and its buffers are freed before the next layer allocates its own. On the
article's 2 x 512 LSTM that halves the encoder's peak memory.
"""

from __future__ import annotations

from typing import Any

from minis2s import backend
from minis2s.cells._workspace import POOL
from minis2s.cells.stack import StackConfig, layer_prefix, param_shapes, stack_forward


def encoder_layers(x: Any, params: dict[str, Any], config: StackConfig, mask: Any,
                   prefix: str) -> tuple[Any, tuple]:
    """``x (T, N, D)`` through the stack ``config`` (no dropout), one layer at a time ->
    ``(outputs (T, N, dirs*H), final state)``, as :func:`~minis2s.cells.stack.stack_forward`
    returns them (final states in row ``k * dirs + d``), without its cache."""
    xp = backend.get_xp()
    finals: list[list] = []
    inp = x
    for k in range(config.num_layers):
        one = StackConfig(config.cell, config.layer_input_size(k), config.hidden_size, 1,
                          config.bidirectional, 0.0, config.activation)
        own = {}
        for d in range(config.directions):   # this layer's weights, named as layer 0's
            for name in param_shapes(one, ""):
                if name.startswith(layer_prefix("", 0, d)):
                    rest = name[len(layer_prefix("", 0, d)):]
                    own[name] = params[layer_prefix(prefix, k, d) + rest]
        out, state_T, cache = stack_forward(inp, own, one, mask=mask)
        inp = out.copy()
        finals.append([s.copy() for s in state_T])
        del out, state_T, cache     # the layer's buffers go with the last views of them
    state = tuple(xp.concatenate([f[i] for f in finals]) for i in range(len(finals[0])))
    POOL.drop_free()    # the layers' blocks: decoding needs other sizes, give them back
    return inp, state
