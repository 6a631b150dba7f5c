"""The parts of OpenDP that dpsynth uses, as one ``dp`` namespace.

``opendp.prelude`` would give the same names but also imports OpenDP's extras
(scikit-learn, polars, ...): about 2 s and 200 MB per process. Importing the
core modules directly keeps the command line quick and MST's peak memory low.
"""
from opendp import combinators as c  # noqa: F401
from opendp import measurements as m  # noqa: F401
from opendp import transformations as t  # noqa: F401
from opendp.domains import atom_domain, map_domain, vector_domain  # noqa: F401
from opendp.measures import zero_concentrated_divergence  # noqa: F401
from opendp.metrics import (  # noqa: F401
    absolute_distance,
    l02inf_distance,
    l2_distance,
    linf_distance,
    symmetric_distance,
)
from opendp.mod import Measurement, OpenDPException, enable_features  # noqa: F401
