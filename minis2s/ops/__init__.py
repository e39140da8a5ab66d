"""Stateless forward/backward pairs: the pieces every model is built from.

==================  ==========================================================
module              pieces
==================  ==========================================================
``onehot``          :func:`onehot` (forward only, no parameters)
``embedding``       :func:`embedding_forward` / :func:`embedding_backward`
``linear``          :func:`linear_forward` / :func:`linear_backward`
``activations``     :data:`ACTIVATIONS`, :func:`activation_forward` / ``_backward``,
                    :func:`sigmoid` (the one sigmoid, also in place)
``softmax_ce``      :func:`softmax_cross_entropy_forward` / ``_backward``
``attention``       :func:`attention_keys_forward` / ``_backward`` (hoisted keys),
                    :func:`attention_forward` / ``_backward`` (one decoder step)
``validate``        input checks shared by every public entry point
==================  ==========================================================

Each ``x_forward(...)`` returns ``(out, cache)``; each ``x_backward(dout, cache)``
returns the gradients, never modifies ``dout`` and never updates a parameter.
"""

from minis2s.ops.activations import (
    ACTIVATIONS,
    Activation,
    ActivationCache,
    activation_backward,
    activation_forward,
    get_activation,
    sigmoid,
)
from minis2s.ops.attention import (
    attention_backward,
    attention_forward,
    attention_keys_backward,
    attention_keys_forward,
)
from minis2s.ops.embedding import EmbeddingCache, embedding_backward, embedding_forward
from minis2s.ops.linear import LinearCache, linear_backward, linear_forward
from minis2s.ops.onehot import onehot
from minis2s.ops.softmax_ce import (
    SoftmaxCECache,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)

__all__ = [
    "attention_backward",
    "attention_forward",
    "attention_keys_backward",
    "attention_keys_forward",
    "ACTIVATIONS",
    "Activation",
    "ActivationCache",
    "EmbeddingCache",
    "LinearCache",
    "SoftmaxCECache",
    "activation_backward",
    "activation_forward",
    "embedding_backward",
    "embedding_forward",
    "get_activation",
    "linear_backward",
    "linear_forward",
    "onehot",
    "sigmoid",
    "softmax_cross_entropy_backward",
    "softmax_cross_entropy_forward",
]
