"""Recurrent cells: one step and a whole sequence, forward and backward.

``seed`` holds the article's plain recurrences (encoder ``h_t = f(W_h x_t +
W_c h_{t-1} + b)``, decoder ``o_t = g(W_o h_t + W_s s_{t-1} + b)``); the LSTM
and GRU cells live beside it. Every cell module exposes the same *cell
protocol* (``docs/conventions.md``): ``STATE_NAMES``, ``GATES``,
``TORCH_NAMES``, ``param_shapes``, ``init_params``, ``step_forward``,
``step_backward``, ``sequence_forward``, ``sequence_backward``, so stacks and
models can take any of them.
"""
