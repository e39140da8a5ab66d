"""The trainer's two exceptions: the user's input cannot be used, or the run diverged."""

from __future__ import annotations


class InputError(ValueError):
    """The settings, the data or the run directory given to the trainer cannot be used.

    The message says which and why, in one line meant for the user (the command line
    prints it and exits with status 2). Raised only where user input is checked, so
    any *other* exception escaping the trainer is a bug, not bad input.
    """


class TrainingDivergedError(RuntimeError):
    """The loss (or the gradient norm) became NaN or infinite; the message names the step."""
