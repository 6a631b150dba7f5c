"""One module per command family; see :mod:`dpsynth.cli` for the contract."""
