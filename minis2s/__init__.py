"""minis2s: sequence-to-sequence RNNs in plain NumPy, every backward pass derived by hand.

Layers, lowest first (imports only flow upward)::

    backend, gradcheck  <-  ops  <-  cells  <-  model, decode  <-  train, cli

See ``docs/`` for the math beside the code, and ``notebooks/`` for the lessons.
"""

__version__ = "0.1.0"
