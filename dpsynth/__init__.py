"""dpsynth: differentially private synthetic tabular data with an auditable zCDP ledger."""
from __future__ import annotations

__version__ = "0.1.0"

from dpsynth.errors import BudgetExceeded, DpsynthError, InputError  # noqa: E402



def load(path):  # noqa: ANN001, ANN201 - documented in dpsynth.persist.load
    """Load a fitted synthesizer saved with ``model.save(path)`` (see :func:`dpsynth.persist.load`)."""
    from dpsynth.persist import load as _load

    return _load(path)


__all__ = ["__version__", "BudgetExceeded", "DpsynthError", "InputError", "load"]
