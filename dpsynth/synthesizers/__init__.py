"""Select-measure-generate synthesizers sharing one small base.

``METHODS`` maps the CLI's ``--method`` names to classes.
"""
from __future__ import annotations

from dpsynth.synthesizers.aim import AIM
from dpsynth.synthesizers.base import Synthesizer
from dpsynth.synthesizers.independent import Independent
from dpsynth.synthesizers.mst import MST
from dpsynth.synthesizers.mwem import MWEM
from dpsynth.synthesizers.privbayes import PrivBayes

METHODS: dict[str, type[Synthesizer]] = {"mst": MST, "aim": AIM, "independent": Independent,
                                         "privbayes": PrivBayes, "mwem": MWEM}

__all__ = ["AIM", "MST", "MWEM", "Independent", "PrivBayes", "Synthesizer", "METHODS"]
