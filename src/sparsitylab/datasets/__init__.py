"""Data sets: the two public sets that ship with the package and the seeds' synthetic problems.

Nothing here touches the network: the files live in ``sparsitylab/datasets/data``.
See ``docs/datasets.md`` for provenance.
"""

from sparsitylab.datasets._bundled import BOSTON_FEATURES, load_boston, load_mnist5k
from sparsitylab.datasets._synthetic import (
    make_quadratic_toy,
    make_sine_toy,
    make_sparse_regression,
)

__all__ = [
    "BOSTON_FEATURES",
    "load_boston",
    "load_mnist5k",
    "make_quadratic_toy",
    "make_sine_toy",
    "make_sparse_regression",
]
