"""Exceptions shared across dpsynth, each mapped to one CLI exit code.

* :class:`InputError` -- bad arguments or input (exit code 2). Its message is one
  line that names the column/value/file and says what to do.
* :class:`BudgetExceeded` -- the ledger cannot cover a request (exit code 3);
  nothing was written and the ledger is unchanged.
"""
from __future__ import annotations


class DpsynthError(Exception):
    """Base class of every error dpsynth raises on purpose."""


class InputError(DpsynthError, ValueError):
    """Bad user input: unreadable file, unknown column, invalid parameter, ..."""


class BudgetExceeded(DpsynthError):
    """A charge or reservation asked for more rho than the ledger has left.

    Attributes: ``dataset``, ``rho_requested``, ``rho_remaining``.
    """

    def __init__(self, dataset: str, rho_requested: float, rho_remaining: float):
        self.dataset = dataset
        self.rho_requested = float(rho_requested)
        self.rho_remaining = float(rho_remaining)
        super().__init__(
            f"budget exceeded for dataset {dataset!r}: asked for rho={rho_requested:.6g}, "
            f"only rho={rho_remaining:.6g} remains; nothing was spent"
        )
