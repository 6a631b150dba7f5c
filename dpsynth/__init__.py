"""dpsynth: differentially private synthetic tabular data with an auditable zCDP ledger."""
from __future__ import annotations

__version__ = "0.1.0"

from dpsynth.errors import BudgetExceeded, DpsynthError, InputError  # noqa: E402

__all__ = ["__version__", "BudgetExceeded", "DpsynthError", "InputError"]
