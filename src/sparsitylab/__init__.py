"""sparsitylab: sparse, regularized neural networks, fitted in JAX and certified.

The public names are imported lazily, so ``import sparsitylab`` stays quick and a missing optional
dependency only matters for the feature that needs it.
"""

from __future__ import annotations

import importlib

from sparsitylab import _config  # noqa: F401  (JAX precision and compilation cache)
from sparsitylab._errors import DivergenceError

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    # scikit-learn estimators on the training engine
    "SparseMLPRegressor": "sparsitylab.estimators.mlp",
    "SparseMLPClassifier": "sparsitylab.estimators.mlp",
    "SparseMLPRegressorCV": "sparsitylab.estimators.mlp_cv",
    "SparseMLPClassifierCV": "sparsitylab.estimators.mlp_cv",
    "sweep": "sparsitylab.estimators.sweep",
    # the equivalences (Hadamard networks and their certificates)
    "HadamardLasso": "sparsitylab.estimators.hadamard",
    "HadamardLassoCV": "sparsitylab.estimators.hadamard",
    "HadamardElasticNet": "sparsitylab.estimators.hadamard",
    "HadamardGroupLasso": "sparsitylab.estimators.hadamard",
    "HadamardLogisticRegression": "sparsitylab.estimators.hadamard",
    "FactorizedNuclearNorm": "sparsitylab.estimators.hadamard",
    "hadamard_path": "sparsitylab.estimators.hadamard",
    # small networks
    "prune": "sparsitylab.sparse",
    "prune_schedule": "sparsitylab.sparse",
    "compact": "sparsitylab.sparse",
    "quantize": "sparsitylab.sparse",
}

# subpackages reachable as attributes (``sparsitylab.datasets.load_boston()``)
_SUBPACKAGES = ("datasets", "diagnostics", "engine", "equivalence", "sparse", "studies", "report")

__all__ = ["DivergenceError", "__version__", *_LAZY, *_SUBPACKAGES]


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        value = importlib.import_module(f"sparsitylab.{name}")
        globals()[name] = value
        return value
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'sparsitylab' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBPACKAGES))
