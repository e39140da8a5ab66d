"""The article's decoder recurrence: ``o_t = g(W_o h_t + W_s s_{t-1} + b)``.

One step, a batch of ``N`` row vectors::

    o_t = g(W_o h_t + W_s s_{t-1} + b)          h_t (N, Dh), o_t = s_t (N, S)

``h_t`` is "what the encoder tells the decoder at step t" (aligned: the encoder's
state at step t; final: its last state for every t; attention: a weighted mix of
all its states), and the decoder's own state is its previous output,
``s_{t-1} = o_{t-1}``. As an **extension** of the article's formula (not in the
article), the decoder may also read the vector of the previous target token
``y_{t-1}`` (teacher forcing; an embedding, ``(N, E)``)::

    o_t = g(W_o h_t + W_s s_{t-1} + W_y y_{t-1} + b)

It is the encoder's formula with other names, so the work is done by
:mod:`minis2s.cells.recurrence`, as for :mod:`minis2s.cells.rnn`'s encoder. Every
public function validates its inputs first, once (:mod:`minis2s.cells.validate`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from minis2s.cells.recurrence import (
    RecurrenceCache,
    RNNStepCache,
    recurrence_backward,
    recurrence_forward,
    recurrent_step_backward,
    recurrent_step_forward,
)
from minis2s.cells.validate import check_decoder, check_decoder_step, check_grad
from minis2s.ops.linear import LinearCache, linear_backward, linear_forward
from minis2s.ops.validate import check_instance


def decoder_step_forward(
    h: Any, s_prev: Any, W_o: Any, W_s: Any, b: Any, g: str = "tanh",
    y_prev: Any = None, W_y: Any = None,
) -> tuple[Any, RNNStepCache]:
    """One decoder step, ``o_t = g(W_o h_t + W_s s_{t-1} [+ W_y y_{t-1}] + b)``; ``s_t = o_t``.

    Parameters
    ----------
    h : ``(N, Dh)`` what the encoder tells the decoder at step t.
    s_prev : ``(N, S)`` the decoder's previous state ``s_{t-1} = o_{t-1}``.
    W_o : ``(S, Dh)``.  W_s : ``(S, S)``.  b : ``(S,)``.
    g : activation name.
    y_prev : ``(N, E)`` the previous target token's vector, or ``None``
        (the ``W_y y_{t-1}`` term is an extension of the article's formula).
    W_y : ``(S, E)``, given exactly when ``y_prev`` is.

    Returns ``o`` ``(N, S)`` and the cache.
    """
    check_decoder_step(h, s_prev, W_o, W_s, b, g, y_prev, W_y)
    inputs, weights = [h, s_prev], [W_o, W_s]
    if y_prev is not None:
        inputs.append(y_prev)
        weights.append(W_y)
    return recurrent_step_forward(inputs, weights, b, g)


def decoder_step_backward(do: Any, cache: RNNStepCache) -> tuple[Any, Any, Any, dict]:
    """Gradients of one decoder step.

    Parameters
    ----------
    do : ``(N, S)`` ``dL/do_t`` (not modified).
    cache : from :func:`decoder_step_forward`.

    Returns ``(dh (N, Dh), ds_prev (N, S), dy_prev (N, E) or None, grads)`` with
    ``grads = {"W_o": (S, Dh), "W_s": (S, S), "b": (S,)}`` plus ``"W_y": (S, E)``
    when the extension was used. Same equations as
    :func:`minis2s.cells.rnn.encoder_step_backward`.
    """
    check_instance(cache, RNNStepCache, "decoder_step_backward cache", "decoder_step_forward")
    check_grad(do, cache.y, "decoder do", optional=False)
    dinputs, dweights, db = recurrent_step_backward(do, cache)
    grads = {"W_o": dweights[0], "W_s": dweights[1], "b": db}
    dy_prev = None
    if len(dinputs) == 3:
        dy_prev, grads["W_y"] = dinputs[2], dweights[2]
    return dinputs[0], dinputs[1], dy_prev, grads


class RNNDecoderCache(NamedTuple):
    """What :func:`decoder_backward` needs."""

    projection: LinearCache
    """``W_o h_t + b`` of all steps (one product; once when ``h`` is ``(N, Dh)``)."""
    token_projection: LinearCache | None
    """``W_y y_{t-1}`` of all steps, or ``None`` without the extension."""
    recurrence: RecurrenceCache
    """the loop over ``o_t = g(... + W_s s_{t-1})``."""
    final: bool
    """True when one ``h`` ``(N, Dh)`` served every step."""


def decoder_forward(
    h: Any, s0: Any, W_o: Any, W_s: Any, b: Any, g: str = "tanh",
    y_prev: Any = None, W_y: Any = None, mask: Any = None, steps: int | None = None,
) -> tuple[Any, RNNDecoderCache]:
    """The decoder over a whole sequence, ``o_t = g(W_o h_t + W_s s_{t-1} [+ W_y y_{t-1}] + b)``.

    Parameters
    ----------
    h : ``(T, N, Dh)`` a different ``h_t`` per step (the *aligned* reading,
        or precomputed contexts), or ``(N, Dh)`` one vector for every step
        (the *final* reading: ``W_o h + b`` is then computed once, not ``T`` times).
    s0 : ``(N, S)`` the initial state, or ``None`` for zeros.
    W_o : ``(S, Dh)``.  W_s : ``(S, S)``.  b : ``(S,)``.
    g : activation name.
    y_prev : ``(T, N, E)`` the previous target tokens' vectors (teacher
        forcing; ``y_prev[0]`` is the start token's), or ``None``.
    W_y : ``(S, E)``, given exactly when ``y_prev`` is.
    mask : ``(T, N)`` bool or 0/1, or ``None``: where 0 the state is carried.
    steps : ``T``; needed only when ``h`` is ``(N, Dh)`` and there is neither
        ``y_prev`` nor ``mask`` to read it from.

    Returns ``os`` ``(T, N, S)`` (``os[-1]`` the final state) and the cache.
    """
    T, s0, mask = check_decoder(h, s0, W_o, W_s, b, g, y_prev, W_y, mask, steps)
    xw, projection = linear_forward(h, W_o, b)                # (T, N, S), or (N, S) once
    token_projection = None
    if y_prev is not None:
        yw, token_projection = linear_forward(y_prev, W_y)    # (T, N, S)
        xw = xw + yw                                          # broadcasts over T if final
    os_, recurrence = recurrence_forward(xw, W_s, s0, g, mask, steps=T)
    return os_, RNNDecoderCache(projection, token_projection, recurrence, h.ndim == 2)


def decoder_backward(
    dos: Any, cache: RNNDecoderCache, ds_last: Any = None
) -> tuple[Any, Any, Any, dict]:
    """Backpropagation through time for :func:`decoder_forward`.

    Parameters
    ----------
    dos : ``(T, N, S)`` ``dL/dos`` (e.g. from the output projection), or ``None``. Not modified.
    cache : from :func:`decoder_forward`.
    ds_last : ``(N, S)`` extra gradient on the final state ``os[-1]``, or ``None``.

    Returns ``(dh, ds0 (N, S), dy_prev (T, N, E) or None, grads)``: ``dh`` has
    the shape of ``h``, ``(T, N, Dh)`` or ``(N, Dh)`` (then summed over the
    steps: ``dL/dh = sum_t W_o^T da_t``); ``grads = {"W_o", "W_s", "b"}`` plus
    ``"W_y"`` with the extension.
    """
    check_instance(cache, RNNDecoderCache, "decoder_backward cache", "decoder_forward")
    check_grad(dos, cache.recurrence.states, "decoder dos")
    check_grad(ds_last, cache.recurrence.state0, "decoder ds_last")
    da, ds0, dW_s = recurrence_backward(dos, ds_last, cache.recurrence)
    da_h = da.sum(axis=0) if cache.final else da              # one h served every step
    dh, dW_o, db = linear_backward(da_h, cache.projection)
    grads = {"W_o": dW_o, "W_s": dW_s, "b": db}
    dy_prev = None
    if cache.token_projection is not None:
        dy_prev, grads["W_y"], _ = linear_backward(da, cache.token_projection)
    return dh, ds0, dy_prev, grads
