"""Duck-typed access to a fitted sparsitylab network estimator (no import of ``estimators``).

A fitted model has ``network_`` (an engine network spec), ``params_`` and ``state_`` (numpy
pytrees with a leading member axis) and the derived attributes ``coefs_``, ``intercepts_``,
``sparsity_`` and ``feature_importances_``, which :func:`refresh` recomputes after an edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np
from sklearn.exceptions import NotFittedError


def check_model(model, what: str) -> None:
    """Raise a clear error unless ``model`` is a fitted sparsitylab network estimator whose
    predictions come from its own network."""
    name = type(model).__name__
    if not hasattr(model, "network_") or not hasattr(model, "params_"):
        if not hasattr(model, "hidden_layer_sizes"):
            raise ValueError(
                f"{what} works on the sparsitylab MLP estimators (SparseMLPRegressor, "
                f"SparseMLPClassifier, SparseMLPRegressorCV, SparseMLPClassifierCV), not on {name}"
            )
        raise NotFittedError(
            f"{what} needs a fitted sparsitylab network estimator; this {name} has no network_ "
            f"and params_: call fit(X, y) first"
        )
    if hasattr(model, "dense_estimator_"):
        raise ValueError(
            f"this {name} predicts with dense_estimator_ (refit_dense=True): {what} would leave "
            f"its predictions as they are but change the selected_features_ that "
            f"dense_estimator_ reads. Apply {what} to model.dense_estimator_ (it takes "
            f"X[:, model.selected_features_]), or fit with refit_dense=False"
        )


def check_count(name: str, value, minimum: int) -> int:
    """``value`` as an ``int`` if it is an integer (not a boolean) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def n_members(params) -> int:
    return int(np.shape(params[0]["w"])[0])


def n_parameters(params) -> int:
    """Trainable numbers of one member."""
    m = n_members(params)
    return int(sum(np.size(v) for layer in params for v in layer.values()) // m)


def refresh(model) -> None:
    """Recompute the attributes derived from ``params_`` (as the estimators' ``_store`` does;
    ``feature_importances_`` has one entry per column of the original ``X``)."""
    params = model.params_
    single = n_members(params) == 1
    weights = [np.asarray(layer["w"]) for layer in params]
    model.coefs_ = [w[0] if single else w for w in weights]
    model.intercepts_ = [
        (np.asarray(layer["b"])[0] if single else np.asarray(layer["b"])) for layer in params
        if "b" in layer
    ]  # fmt: skip
    model.sparsity_ = np.array([float(np.mean(w == 0)) for w in weights])
    first = weights[0]
    if "gate" in params[0]:
        first = first * np.asarray(params[0]["gate"])[..., None]
    if first.ndim == 3:
        per_row = np.abs(first).mean(axis=(0, 2))
        columns, _ = unwrap(model.network_)
        if columns is None:
            model.feature_importances_ = per_row
        else:  # compacted: one per column of the original X, zero where it reads none
            model.feature_importances_ = np.zeros(model.n_features_in_, per_row.dtype)
            model.feature_importances_[columns] = per_row


@dataclass(frozen=True)
class SelectInputs:
    """A network that reads only ``columns`` of its input and passes them to ``inner``: what
    :func:`~sparsitylab.sparse.compact` returns when inputs were dropped, so the compacted
    estimator still takes the original columns."""

    columns: tuple[int, ...]
    inner: object
    n_features: int

    @property
    def n_inputs(self) -> int:
        return self.n_features

    def init(self, key):
        return self.inner.init(key)

    def apply(self, params, state, X, *, input_t=None, **kwargs):
        return self.inner.apply(params, state, X[:, np.asarray(self.columns)], **kwargs)

    def __getattr__(self, name):
        if name in ("inner", "columns", "n_features") or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.inner, name)


def unwrap(network):
    """``(columns or None, inner network)``."""
    if isinstance(network, SelectInputs):
        return np.asarray(network.columns), network.inner
    return None, network
