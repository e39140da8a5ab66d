"""minis2s: sequence-to-sequence RNNs in plain NumPy, every backward pass derived by hand.

Imports flow one way, from the bottom up; the spine is::

    backend  <-  ops  <-  cells  <-  model  <-  decode  <-  train  <-  cli

with the host-only ``data`` and ``metrics`` low, and the gradient-check suite, the
course kit and the benchmarks high. The full table is ``LAYERS`` in
``tests/test_layers.py``, which checks every import (``docs/conventions.md`` shows it).

See ``docs/`` for the math beside the code, and ``notebooks/`` for the lessons.
"""

__version__ = "0.1.0"
